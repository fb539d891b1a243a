"""The conformance vectors: up to date, complete, and decoded by the Python codec as expected."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from reznet_ws.codec import (
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    Codec,
    FieldMap,
    encode_timestamp,
    format_timestamp,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = ROOT / "tests" / "vectors"
VECTORS = json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))
TIMESTAMPS = json.loads((VECTORS_DIR / "timestamps.json").read_text(encoding="utf-8"))


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reznet_vectors", VECTORS_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def codec_for(vector: dict[str, object]) -> Codec:
    if "field_map" not in vector:
        return Codec()
    return Codec(FieldMap(vector["field_map"], vector["timestamp_fields"]))  # type: ignore[arg-type]


def frame_of(vector: dict[str, object]) -> str | bytes:
    frame = vector["frame"]
    assert isinstance(frame, dict)
    if frame["type"] == "text":
        return str(frame["data"])
    assert frame["type"] == "binary"
    return base64.b64decode(frame["base64"])


def test_committed_files_match_a_fresh_generation(tmp_path: Path) -> None:
    load_generator().write_all(tmp_path, tmp_path / "field-map.md")
    for name in ("vectors.json", "timestamps.json"):
        assert (tmp_path / name).read_bytes() == (VECTORS_DIR / name).read_bytes(), (
            f"{name} is stale: run python tests/vectors/generate.py"
        )
    assert (tmp_path / "field-map.md").read_bytes() == (ROOT / "docs" / "field-map.md").read_bytes()


def test_header() -> None:
    default = FieldMap.default()
    assert VECTORS["protocol_version"] == PROTOCOL_VERSION
    assert VECTORS["subprotocol"] == SUBPROTOCOL
    assert VECTORS["field_map"] == default.mapping
    assert VECTORS["timestamp_fields"] == sorted(default.timestamp_fields)
    assert VECTORS["map_hash"] == default.hash


def test_vectors_cover_every_feature() -> None:
    vectors = VECTORS["vectors"]
    names = [vector["name"] for vector in vectors]
    assert len(vectors) >= 120
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in names)
    kinds = {"binary": 0, "legacy": 0, "custom": 0, "raw": 0, "batch": 0, "timestamp": 0}
    for vector in vectors:
        assert set(vector) <= {
            "name",
            "description",
            "frame",
            "field_map",
            "timestamp_fields",
            "legacy",
            "expected",
        }
        assert ("field_map" in vector) == ("timestamp_fields" in vector)
        frame = frame_of(vector)
        kinds["binary"] += isinstance(frame, bytes)
        kinds["legacy"] += vector["legacy"]
        kinds["custom"] += "field_map" in vector
        kinds["raw"] += isinstance(frame, str) and '"r":1' in frame[:200]
        kinds["batch"] += isinstance(frame, str) and frame.startswith('{"_v":2,"b":')
        kinds["timestamp"] += vector["name"].startswith("ts-")
    assert min(kinds.values()) >= 5, kinds


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["name"])
def test_vector_decodes_to_expected(vector: dict[str, object]) -> None:
    codec, frame = codec_for(vector), frame_of(vector)
    if vector["legacy"]:
        assert isinstance(frame, str) and "_v" not in json.loads(frame)
        assert [json.loads(frame)] == vector["expected"]
        return
    got = [{"event": event, "data": data} for event, data in codec.decode_frame(frame)]
    assert canonical(got) == canonical(vector["expected"])
    # A client may send the same frames to the server.
    incoming = codec.parse_incoming(
        frame if isinstance(frame, str) else None,
        frame if isinstance(frame, bytes) else None,
        v2=True,
    )
    assert canonical(incoming) == canonical(vector["expected"])


def test_timestamp_table() -> None:
    assert len(TIMESTAMPS) >= 100
    for row in TIMESTAMPS:
        assert set(row) == {"iso", "encoded", "ms"}
        encoded = row["encoded"]
        assert encode_timestamp(row["iso"]) == encoded
        args = encoded if isinstance(encoded, list) else [encoded]
        assert format_timestamp(*args) == row["iso"]
        assert args[0] == row["ms"]
