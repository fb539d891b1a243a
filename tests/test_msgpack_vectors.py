"""The reznet.v2.msgpack conformance vectors: up to date, and decoded by Python as expected."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.content import strict_codec
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec

from .test_codec_vectors import load_generator

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
VECTORS = json.loads((VECTORS_DIR / "msgpack.json").read_text(encoding="utf-8"))


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def frame_of(vector: dict[str, Any]) -> str | bytes:
    frame = vector["frame"]
    if frame["type"] == "text":
        return str(frame["data"])
    return base64.b64decode(frame["base64"])


def test_committed_file_matches_a_fresh_generation(tmp_path: Path) -> None:
    load_generator().write_all(tmp_path, tmp_path / "field-map.md")
    assert (tmp_path / "msgpack.json").read_bytes() == (VECTORS_DIR / "msgpack.json").read_bytes()


def test_vectors_cover_the_encoding() -> None:
    vectors = VECTORS["vectors"]
    assert VECTORS["subprotocol"] == MSGPACK_SUBPROTOCOL
    assert len(vectors) >= 150
    kinds = {vector["frame"]["type"] for vector in vectors}
    assert kinds == {"binary", "text"}
    assert any(vector.get("content") for vector in vectors)
    assert any(vector.get("raw") for vector in vectors)
    assert any("field_map" in vector for vector in vectors)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["name"])
def test_vector_decodes_to_expected(vector: dict[str, Any]) -> None:
    codec = Codec()
    if "field_map" in vector:
        codec = Codec(FieldMap(vector["field_map"], vector["timestamp_fields"]))
    frame = frame_of(vector)
    if vector.get("content"):
        assert isinstance(frame, bytes)
        got: object = msgpack_codec(strict_codec(codec)).decode_content_frame(frame)
    else:
        got = [{"event": e, "data": d} for e, d in msgpack_codec(codec).decode_frame(frame)]
    assert canonical(got) == canonical(vector["expected"])
    if vector["legacy"]:
        assert isinstance(frame, str)  # v1 text
    elif not vector.get("raw"):  # a raw frame MessagePack cannot carry is JSON text
        assert isinstance(frame, bytes)
