"""Property tests of the MessagePack encoding: what a receiver decodes is what v1 delivers."""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.content import strict_codec
from reznet_ws.codec.msgpack_frames import MsgpackCodec, msgpack_codec

from .test_codec_properties import (
    JSON,
    TEXT,
    VALUES,
    canonical,
    custom_map_and_data,
    examples,
    v1,
)

CODEC = Codec(max_depth=10_000)
PACKED = msgpack_codec(CODEC)


def _unpackable(value: object) -> bool:
    """Whether the v1 value holds what the encoding sends as v1: beyond 64 bits, lone
    surrogates, ``__proto__`` (also inside strings, where the byte search may hit it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is int and not -(2**63) <= item < 2**64:
            return True
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
            if "__proto__" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def received(packed: MsgpackCodec, codec: Codec, event: str, data: object) -> Any:
    """What a client gets for ``data``: the packed frame decoded, or the v1 text parsed."""
    try:
        frame = packed.event_frame(event, packed.encode_event_data(event, data))
    except ValueError:
        proto_short = "__proto__" in codec.field_map.mapping.values()  # written as that key
        assert _unpackable(v1(codec, event, data)) or _unpackable(event) or proto_short
        return json.loads(codec.encode_v1(event, data))["data"]
    assert isinstance(frame, bytes)
    [(got_event, decoded)] = packed.decode_frame(frame)
    assert got_event == event
    return decoded


@examples(2000)
@given(VALUES)
def test_round_trip_gives_v1_data(data: object) -> None:
    assert canonical(received(PACKED, CODEC, "ev", data)) == canonical(v1(CODEC, "ev", data))


@examples(1000)
@given(VALUES)
def test_server_decodes_client_frames_as_v1(data: object) -> None:
    try:
        frame = PACKED.event_frame("ev", PACKED.encode_data(data))
    except ValueError:
        return
    expected = [{"event": "ev", "data": v1(CODEC, "ev", data)}]
    assert canonical(PACKED.parse_incoming(frame)) == canonical(expected)


@examples(500)
@given(custom_map_and_data())
def test_custom_maps_round_trip(case: tuple[FieldMap, object]) -> None:
    field_map, data = case
    codec = Codec(field_map, max_depth=10_000)
    got = received(msgpack_codec(codec), codec, "ev", data)
    assert canonical(got) == canonical(v1(codec, "ev", data))


@examples(300)
@given(st.lists(st.tuples(TEXT, JSON), max_size=6))
def test_batch_round_trip(items: list[tuple[str, object]]) -> None:
    encoded = []
    for event, data in items:
        try:
            encoded.append((event, PACKED.encode_event_data(event, data)))
        except ValueError:
            continue
    frame = PACKED.batch_frame(encoded)
    decoded = PACKED.decode_frame(frame)
    expected = [(event, v1(CODEC, event, data)) for event, data in items]
    assert [e for e, _ in decoded] == [e for e, _ in encoded]
    for event, data in decoded:
        assert canonical(data) in {canonical(d) for e, d in expected if e == event}


@examples(300)
@given(TEXT, JSON)
def test_raw_frame_round_trip(event: str, data: object) -> None:
    [(got_event, got)] = PACKED.decode_frame(PACKED.raw_frame(event, data))
    assert got_event == event
    assert canonical(got) == canonical(v1(CODEC, event, data))


@examples(300)
@given(JSON)
def test_content_frame_round_trip(content: object) -> None:
    packed = msgpack_codec(strict_codec(CODEC))
    try:
        frame = packed.content_frame(packed.encode_data(content))
    except ValueError:
        assert _unpackable(json.loads(json.dumps(content)))
        return
    assert canonical(packed.decode_content_frame(frame)) == canonical(
        json.loads(json.dumps(content))
    )


@examples(300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_stay_floats(value: float) -> None:
    # 1.0 and -0.0 are floats after json.loads of v1; MessagePack float64 keeps them so.
    [(_, got)] = PACKED.decode_frame(PACKED.event_frame("ev", PACKED.encode_data({"x": value})))
    assert type(got["x"]) is float
    assert canonical(got) == canonical(json.loads(json.dumps({"x": value})))


@examples(300)
@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_64_bit_integers_are_native(value: int) -> None:
    data = PACKED.encode_data(value)
    assert msgpack.unpackb(data) == value
    assert PACKED.decode_frame(PACKED.event_frame("ev", data)) == [("ev", value)]


@examples(500)
@given(st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=3)), max_size=8))
def test_non_finite_floats_always_go_as_v1(values: list[object]) -> None:
    finite = all(math.isfinite(v) for v in values if isinstance(v, float))
    try:
        frame = PACKED.event_frame("ev", PACKED.encode_data({"v": values}))
    except ValueError:
        assert not finite or _unpackable(values)
        return
    assert finite
    [(_, got)] = PACKED.decode_frame(frame)
    assert canonical(got) == canonical({"v": values})
