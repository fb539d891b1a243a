"""The MessagePack frames: their bytes, what goes out as v1, and bad client input."""

from __future__ import annotations

import msgpack
import pytest

from reznet_ws.codec import Codec, ProtocolError
from reznet_ws.codec.msgpack_frames import MSGPACK_SUBPROTOCOL, msgpack_codec, require_msgpack

CODEC = Codec(max_message_bytes=1000, max_depth=8)
PACKED = msgpack_codec(CODEC)


def test_frames_are_the_v2_frame_objects_packed() -> None:
    data = PACKED.encode_data({"content": "hi", "created_at": "2025-10-25T12:00:00Z"})
    frame = PACKED.event_frame("message_new", data)
    assert msgpack.unpackb(frame) == {
        "_v": 2,
        "e": "message_new",
        "d": {"c": "hi", "ts": 1761393600000},
    }
    batch = PACKED.batch_frame([("a", data), ("b", PACKED.encode_data(1))])
    assert msgpack.unpackb(batch) == {
        "_v": 2,
        "b": [["a", {"c": "hi", "ts": 1761393600000}], ["b", 1]],
    }
    assert msgpack.unpackb(PACKED.content_frame(PACKED.encode_data([1]))) == {"_v": 2, "c": [1]}
    raw = PACKED.raw_frame("error", {"code": "x", 1: None})
    assert msgpack.unpackb(raw) == {"_v": 2, "e": "error", "r": 1, "d": {"code": "x", "1": None}}


def test_codec_is_shared_per_codec_and_subprotocol_is_named() -> None:
    assert msgpack_codec(CODEC) is PACKED
    assert MSGPACK_SUBPROTOCOL == "reznet.v2.msgpack"
    assert require_msgpack() is msgpack


def test_big_batches_get_long_array_headers() -> None:
    one = PACKED.encode_data(0)
    for size in (15, 16, 70000):
        frame = PACKED.batch_frame([("t", one)] * size)
        assert len(PACKED.decode_frame(frame)) == size


@pytest.mark.parametrize(
    "data",
    [
        2**64,
        -(2**63) - 1,
        "\ud800",
        {"\udfff": 1},
        {"__proto__": 1},
        [1.0, float("nan")],
        {"x": float("inf")},
        -float("inf"),
    ],
)
def test_what_msgpack_cannot_carry_raises_value_error(data: object) -> None:
    with pytest.raises(ValueError):
        PACKED.encode_data(data)


def test_a_failed_pack_leaves_nothing_behind() -> None:
    for bad in ({"a": [1, 2**64]}, {"b": ["x", "\ud800"]}):
        with pytest.raises(ValueError):
            PACKED.encode_data(bad)
        assert PACKED.encode_data([1]) == b"\x91\x01"


def test_event_names_that_cannot_be_packed_raise() -> None:
    with pytest.raises(ValueError):
        PACKED.encode_event_data("\ud800", 1)
    with pytest.raises(TypeError):
        PACKED.encode_event_data(1, 1)  # type: ignore[arg-type]


def test_huge_finite_floats_are_kept() -> None:
    data = PACKED.encode_data([1.7e308, -1.7e308, 5e-324])
    assert PACKED.decode_frame(PACKED.event_frame("e", data)) == [
        ("e", [1.7e308, -1.7e308, 5e-324])
    ]


def test_raw_frames_fall_back_to_json_text() -> None:
    text = PACKED.raw_frame("stats_response", {"big": 2**70})
    assert isinstance(text, str)
    assert PACKED.decode_frame(text) == [("stats_response", {"big": 2**70})]


def test_client_frames_decode_like_their_json_form() -> None:
    frame = msgpack.packb({"_v": 2, "e": "chat", "d": {"c": "x", "ts": 1761393600000}})
    assert PACKED.parse_incoming(frame) == [
        {"event": "chat", "data": {"content": "x", "created_at": "2025-10-25T12:00:00Z"}}
    ]
    plain = msgpack.packb({"event": "chat", "data": [1]})
    assert PACKED.parse_incoming(plain) == [{"event": "chat", "data": [1]}]
    batch = msgpack.packb({"_v": 2.0, "b": [["a", 1], ["b", {"~c": 2}]]})
    assert PACKED.parse_incoming(batch) == [
        {"event": "a", "data": 1},
        {"event": "b", "data": {"c": 2}},
    ]


def _deep(levels: int) -> bytes:
    return b"\x81\xa1e" * levels + b"\x01"  # {"e": {"e": ... 1}}: ``levels`` maps


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"", "malformed_json"),
        (b"\xc1", "malformed_json"),
        (msgpack.packb({"event": "a"}) + b"\x00", "malformed_json"),
        (b"\x81\xa1e\xa2\xed\xa0", "malformed_json"),  # invalid UTF-8
        (msgpack.packb({"event": "a", "data": b"bin"}, use_bin_type=True), "malformed_json"),
        (msgpack.packb({"event": "a", "data": msgpack.ExtType(1, b"1")}), "malformed_json"),
        (b"\x81\x01\x02", "malformed_json"),  # an integer key
        (b"\x81\xa1e\xd6\xff\x00\x00\x00\x01", "malformed_json"),  # a timestamp
        (msgpack.packb({"event": "a", "data": float("nan")}), "invalid_number"),
        (msgpack.packb([1, 2]), "not_an_object"),
        (_deep(9), "too_deep"),
        (b"\x91" * 998 + b"\x01", "too_deep"),
        (b"\xa1" + b"x" * 1200, "too_large"),
        (msgpack.packb({"_v": 3, "e": "a", "d": 1}), "unknown_version"),
        (msgpack.packb({"_v": 2, "e": 1, "d": 1}), "invalid_frame"),
        (msgpack.packb({"_v": 2, "e": "a", "b": [], "d": 1}), "invalid_frame"),
        (msgpack.packb({"_v": 2, "e": "a", "d": {"ts": [1, 5, 3]}}), "invalid_frame"),
        (msgpack.packb({"_v": 2, "c": 1}), "invalid_frame"),
    ],
)
def test_bad_client_frames_raise_protocol_errors(frame: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        PACKED.parse_incoming(frame)
    assert info.value.code == code


def test_depth_limit_counts_every_level() -> None:
    [message] = PACKED.parse_incoming(_deep(8))
    assert message["e"]["e"]["e"]["e"]["e"]["e"]["e"]["e"] == 1


def test_nesting_past_the_unpacker_stack_is_too_deep() -> None:
    with pytest.raises(ProtocolError) as info:
        msgpack_codec(Codec()).parse_incoming(b"\x91" * 5000 + b"\x01")
    assert info.value.code == "too_deep"


def test_client_side_refuses_what_is_not_a_frame() -> None:
    for frame in (msgpack.packb({"event": "a", "data": 1}), msgpack.packb([1])):
        with pytest.raises(ProtocolError):
            PACKED.decode_frame(frame)
    with pytest.raises(ProtocolError):
        PACKED.decode_content_frame(msgpack.packb({"_v": 2, "e": "a", "c": 1}))
