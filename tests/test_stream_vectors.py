"""tests/vectors/stream.json: fresh, and decoded by the Python stream decoder as it says."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from reznet_ws.codec import PROTOCOL_VERSION, ProtocolError
from reznet_ws.codec.stream import StreamDecoder

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
FILE = json.loads((VECTORS_DIR / "stream.json").read_text(encoding="utf-8"))


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "stream_generate", VECTORS_DIR / "stream_generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_vectors_are_fresh() -> None:
    assert _generator().build() == FILE, "stale: run python tests/vectors/stream_generate.py"
    assert FILE["protocol_version"] == PROTOCOL_VERSION


@pytest.mark.parametrize("session", FILE["sessions"], ids=lambda s: s["name"])
def test_python_decodes_every_session(session: dict[str, Any]) -> None:
    decoder = StreamDecoder(session.get("max_inflated_bytes", 1 << 24))
    for frame in session["frames"]:
        data = base64.b64decode(frame["bytes"])
        if "error" in frame:
            with pytest.raises(ProtocolError) as caught:
                decoder.decode(data)
            assert caught.value.code == frame["error"]
        else:
            assert decoder.decode(data) == frame["text"]
