"""tests/vectors/stream.json: fresh, and decoded by the Python stream decoder as it says."""

from __future__ import annotations

from typing import Any

import pytest

from reznet_ws.codec import PROTOCOL_VERSION

from .stream_support import decode_session
from .vector_support import generator, vectors

FILE = vectors("stream")


def test_the_committed_vectors_are_fresh() -> None:
    assert generator("stream_generate").build() == FILE, (
        "stale: run python tests/vectors/stream_generate.py"
    )
    assert FILE["protocol_version"] == PROTOCOL_VERSION


@pytest.mark.parametrize("session", FILE["sessions"], ids=lambda s: s["name"])
def test_python_decodes_every_session(session: dict[str, Any]) -> None:
    decode_session(session)
