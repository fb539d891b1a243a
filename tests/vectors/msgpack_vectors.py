"""The MessagePack conformance vectors (``tests/vectors/msgpack.json``, protocol section 7).

Called by generate.py (``python tests/vectors/generate.py`` writes every vector file) with its
cases: every event, raw, batch, custom-map and content case is written as a ``reznet.v2.msgpack``
server sends it, a binary frame, or, for data MessagePack cannot carry losslessly, the v1 text
frame. Plus cases of this encoding's own: 64-bit integers, floats, what goes out as v1. Each
vector is checked while it is generated: decoding its frame gives what parsing v1 gives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from reznet_ws.codec import (
    DEFAULT_FIELD_MAP,
    DEFAULT_TIMESTAMP_FIELDS,
    PROTOCOL_VERSION,
    Codec,
    FieldMap,
)
from reznet_ws.codec.content import strict_codec
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, MsgpackCodec, msgpack_codec

__all__ = ["build"]

#: Cases of this encoding: (name, description, event, data).
OWN_CASES: list[tuple[str, str, str, object]] = [
    (
        "msgpack-int64-range",
        "integers up to 64 bits are MessagePack integers; beyond 2**53 a JavaScript client "
        "gets the nearest double, as JSON.parse does",
        "ints",
        {
            "safe": [2**53 - 1, -(2**53) + 1, 0, -1, 127, 128, 255, 256, 65536, 2**32],
            "big": [2**53, 2**53 + 1, 2**63 - 1, 2**64 - 1, -(2**63), -(2**53) - 1],
        },
    ),
    (
        "msgpack-floats",
        "floats are float64: 1.0 and -0.0 stay floats (1 and -0 in JavaScript), as JSON.parse "
        "of v1 gives them",
        "floats",
        {"one": 1.0, "negative_zero": -0.0, "tiny": 5e-324, "huge": 1.7976931348623157e308},
    ),
    (
        "msgpack-beyond-64-bits",
        "an integer beyond 64 bits: the event goes as the v1 text frame",
        "big",
        {"n": 2**70, "m": -(2**64)},
    ),
    (
        "msgpack-lone-surrogate",
        "a string with a lone surrogate: the event goes as the v1 text frame",
        "surrogate",
        {"s": "a\ud800b"},
    ),
    (
        "msgpack-lone-surrogate-key",
        "a key with a lone surrogate: the event goes as the v1 text frame",
        "surrogate_key",
        {"\udc00": 1},
    ),
    (
        "msgpack-proto-key",
        "a key __proto__ (refused by @msgpack/msgpack): the event goes as the v1 text frame",
        "proto",
        {"x": {"__proto__": 1}},
    ),
    (
        "msgpack-non-string-keys",
        "keys that are not strings in Python are written as json.dumps writes them",
        "keys",
        {7: "a", 2.5: "b", True: "c", None: "d", -0.0: "e"},
    ),
    (
        "msgpack-unicode",
        "strings and keys beyond ASCII are UTF-8 MessagePack strings",
        "unicode",
        {"\u00e9t\u00e9": "\U0001f600 \u4f60\u597d \u2028", "": ""},
    ),
]


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _frame(frame: str | bytes) -> dict[str, str]:
    if isinstance(frame, str):
        return {"type": "text", "data": frame}
    return {"type": "binary", "base64": base64.b64encode(frame).decode("ascii")}


def _event_vector(
    name: str, description: str, codec: Codec, items: list[tuple[str, object]]
) -> dict[str, Any] | None:
    packed = msgpack_codec(codec)
    expected = [{"event": e, "data": json.loads(codec.encode_v1(e, d))["data"]} for e, d in items]
    frame: str | bytes
    try:
        parts = [(e, packed.encode_event_data(e, d)) for e, d in items]
        if len(items) == 1:
            frame = packed.event_frame(*parts[0])
        else:
            frame = packed.batch_frame(parts)
        legacy = False
    except ValueError:
        if len(items) > 1:  # the server sends such an event alone, as v1, after the batch
            return None
        frame, legacy = codec.encode_v1(*items[0]), True
    vector: dict[str, Any] = {"name": name, "description": description, "frame": _frame(frame)}
    custom = codec.field_map.mapping != DEFAULT_FIELD_MAP
    if custom or codec.field_map.timestamp_fields != DEFAULT_TIMESTAMP_FIELDS:
        vector["field_map"] = codec.field_map.mapping
        vector["timestamp_fields"] = sorted(codec.field_map.timestamp_fields)
    vector["legacy"] = legacy
    vector["expected"] = expected
    _check(packed, vector, frame)
    return vector


def _check(packed: MsgpackCodec, vector: dict[str, Any], frame: str | bytes) -> None:
    if vector.get("content"):
        got: object = packed.decode_content_frame(frame)  # type: ignore[arg-type]
    else:
        got = [{"event": e, "data": d} for e, d in packed.decode_frame(frame)]
    if _canonical(got) != _canonical(vector["expected"]):
        raise AssertionError(f"vector {vector['name']}: decoded {got!r}")


def _raw_vector(name: str, description: str, codec: Codec, event: str, data: object) -> Any:
    packed = msgpack_codec(codec)
    frame = packed.raw_frame(event, data)
    expected = [{"event": event, "data": json.loads(codec.encode_v1(event, data))["data"]}]
    vector = {"name": name, "description": description, "frame": _frame(frame)}
    vector.update(legacy=False, raw=True, expected=expected)
    _check(packed, vector, frame)
    return vector


def _content_vector(name: str, description: str, codec: Codec, content: object) -> Any:
    packed = msgpack_codec(strict_codec(codec))
    expected = json.loads(json.dumps(content))
    try:
        frame: str | bytes = packed.content_frame(packed.encode_data(content))
    except ValueError:
        return None
    vector = {"name": name, "description": description, "frame": _frame(frame)}
    vector.update(legacy=False, content=True, expected=expected)
    _check(packed, vector, frame)
    return vector


def _vectors(codec: Codec, cases: Mapping[str, Any]) -> Iterator[dict[str, Any] | None]:
    for case in cases["EVENTS"]:
        yield _event_vector(case.name, case.description, codec, [(case.event, case.data)])
    for case in cases["RAW"]:
        yield _raw_vector(case.name, case.description, codec, case.event, case.data)
    for name, description, items in cases["BATCHES"]:
        yield _event_vector(name, description, codec, list(items))
    for case, mapping, stamps in cases["CUSTOM_MAPS"]:
        custom = Codec(FieldMap(mapping, stamps), json_backend="stdlib")
        yield _event_vector(case.name, case.description, custom, [(case.event, case.data)])
    for name, description, content in cases["CONTENT_CASES"]:
        yield _content_vector(f"content-{name}", description, codec, content)
    for name, description, event, data in OWN_CASES:
        yield _event_vector(name, description, codec, [(event, data)])


def build(codec: Codec, cases: Mapping[str, Any]) -> dict[str, object]:
    """Return the content of msgpack.json for the default ``codec`` and generate.py's cases."""
    vectors = [vector for vector in _vectors(codec, cases) if vector is not None]
    names = [vector["name"] for vector in vectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"duplicate vector names: {duplicates}"
    return {
        "protocol_version": PROTOCOL_VERSION,
        "subprotocol": MSGPACK_SUBPROTOCOL,
        "field_map": codec.field_map.mapping,
        "timestamp_fields": sorted(codec.field_map.timestamp_fields),
        "vectors": vectors,
    }
