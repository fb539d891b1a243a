"""tests/vectors/stream_zstd.json: fresh, and decoded by the Python stream decoder as it says."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import zstandard

from reznet_ws.codec import PROTOCOL_VERSION

from .stream_support import decode_session
from .vector_support import generator, vectors

FILE = vectors("stream_zstd")


def test_the_committed_vectors_are_fresh() -> None:
    built = generator("stream_zstd_generate").build()
    assert FILE["protocol_version"] == PROTOCOL_VERSION
    # Compressed bytes depend on the libzstd release: byte for byte with the one recorded, and
    # with any other the same sessions, texts and errors (each decoded below).
    if built["libzstd"] == FILE["libzstd"]:
        assert built == FILE, "stale: run python tests/vectors/stream_zstd_generate.py"
    strip = [
        [{k: v for k, v in f.items() if k != "bytes"} for f in s["frames"]]
        for s in built["sessions"]
    ]
    assert strip == [
        [{k: v for k, v in f.items() if k != "bytes"} for f in s["frames"]]
        for s in FILE["sessions"]
    ]


def test_the_vectors_cover_the_cases() -> None:
    codes = {f.get("error") for s in FILE["sessions"] for f in s["frames"]} - {None}
    assert codes == {"decompression_failed", "stream_gap", "too_large"}
    kinds = {base64.b64decode(f["bytes"])[0] for s in FILE["sessions"] for f in s["frames"]}
    assert {0xA6, 0xA7} <= kinds
    assert zstandard.ZSTD_VERSION  # the package the vectors need


@pytest.mark.parametrize("session", FILE["sessions"], ids=lambda s: s["name"])
def test_python_decodes_every_session(session: dict[str, Any]) -> None:
    decode_session(session)
