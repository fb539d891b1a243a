"""Keyed and delta frames over reznet.v2.msgpack rebuild exactly what v1 delivers (3.2 and 7)."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reznet_ws.codec import PROTOCOL_VERSION, Codec
from reznet_ws.codec.delta import same
from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.codec.msgpack_frames import msgpack_codec
from reznet_ws.codec.msgpack_keyed import keyed_payload
from reznet_ws.delivery.keyed import KeyedStreams
from reznet_ws.encoding import default_field_map

from .vector_support import VECTORS_DIR, generator

CODEC = Codec(default_field_map())

_keys = st.sampled_from(
    ["content", "created_at", "updated_at", "status", "c", "~c", "__proto__", "\ud800", "k"]
)
_strings = st.text(max_size=6) | st.sampled_from(
    ["2025-10-25T12:00:00Z", "2025-10-25T14:00:00.123+02:00", "\ud800", "a\udfffb", "__proto__"]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.sampled_from([2**53 + 1, 2**63 - 1, 2**64 - 1, -(2**63), 2**64, -0.0, 1.0, 1e300])
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=16,
)


def _receive(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, bytes):
        result: dict[str, Any] = msgpack_codec(CODEC).unpack(frame, 1 << 30)  # type: ignore[assignment]
        return result
    parsed: dict[str, Any] = json.loads(frame)
    return parsed


@settings(max_examples=200, deadline=None)
@given(st.lists(_values, min_size=1, max_size=6))
def test_a_delta_stream_over_msgpack_equals_v1(versions: list[Any]) -> None:
    texts = []
    for value in versions:
        try:
            texts.append(CODEC.encode_data(value))
        except (ValueError, TypeError, RecursionError):  # sent as v1, never keyed
            assume(False)
    streams = KeyedStreams(max_keys=10, max_bytes=1 << 24, full_every=0, max_ratio=100.0)
    receiver = KeyedReceiver(CODEC)
    frames = msgpack_codec(CODEC)
    for value, text in zip(versions, texts, strict=True):
        step = streams.advance("", "key", text, "live")
        json_frame = step.delta_frame(CODEC, "live") or step.full_frame(CODEC, "live")
        wire = keyed_payload(frames, json_frame)
        assert isinstance(wire, bytes) or wire is json_frame
        got = receiver.receive(_receive(wire))
        assert got is not None
        expected = json.loads(CODEC.encode_v1("live", value))["data"]
        assert same(got[1], expected)
        if isinstance(wire, bytes):  # the packed frame is the JSON frame object, written again
            assert same(_receive(wire), json.loads(json_frame))


@settings(max_examples=100, deadline=None)
@given(_values)
def test_packed_frames_decode_to_the_json_frame_or_stay_text(value: Any) -> None:
    try:
        text = CODEC.encode_data(value)
    except (ValueError, TypeError, RecursionError):
        assume(False)
    frame = '{"_v":2,"e":"live","k":"key","n":1,"s":"0a1b2c3d","d":' + text + "}"
    wire = keyed_payload(msgpack_codec(CODEC), frame)
    if isinstance(wire, bytes):
        assert b"\xa9__proto__" not in wire
        assert same(_receive(wire), json.loads(frame))
    else:
        assert wire == frame


def test_the_committed_msgpack_delta_vectors_are_fresh() -> None:
    committed = json.loads((VECTORS_DIR / "msgpack_delta.json").read_text(encoding="utf-8"))
    assert generator("msgpack_layers_generate").build_delta() == committed, (
        "stale: run python tests/vectors/msgpack_layers_generate.py"
    )
    assert committed["protocol_version"] == PROTOCOL_VERSION
    packed = [f for s in committed["streams"] for f in s["frames"] if "bytes" in f]
    assert all(base64.b64decode(f["bytes"])[0] in (0x86, 0x85) for f in packed)
