"""Helpers of the group-stream tests: the hub under reznet-daphne, stream vector sessions.

The server is tests/hub_app.py with ``STREAM_EPOCH_SECONDS=0``, so a waiting member moves into
the stream at the next broadcast. The sessions are those of tests/vectors/stream*.json.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from reznet_ws.codec import ProtocolError
from reznet_ws.codec.stream import StreamDecoder

from .conftest import ServerProcess, free_port

__all__ = ["decode_session", "stream_server"]


@pytest.fixture
def stream_server() -> Iterator[ServerProcess]:
    """reznet-daphne serving tests/hub_app.py with ``STREAM_EPOCH_SECONDS=0``; stopped after."""
    port = free_port()
    argv = ["-m", "reznet_ws.server.cli", "-b", "127.0.0.1", "-p", str(port)]
    process = ServerProcess(
        [*argv, "tests.hub_app:application"],
        port,
        env={
            "DJANGO_SETTINGS_MODULE": "tests.hub_settings",
            "REZNET_WS_JSON": json.dumps({"STREAM_EPOCH_SECONDS": 0}),
        },
    )
    yield process
    process.stop()


def decode_session(session: dict[str, Any]) -> None:
    """Run one vector session through a fresh :class:`StreamDecoder`: each frame as it says."""
    decoder = StreamDecoder(session.get("max_inflated_bytes", 1 << 24))
    for frame in session["frames"]:
        data = base64.b64decode(frame["bytes"])
        if "error" in frame:
            with pytest.raises(ProtocolError) as caught:
                decoder.decode(data)
            assert caught.value.code == frame["error"]
        else:
            assert decoder.decode(data) == frame["text"]
