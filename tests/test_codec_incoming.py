"""Client messages in: every limit and every error code of protocol section 5."""

from __future__ import annotations

import re
import tracemalloc
import zlib
from pathlib import Path

import pytest

from reznet_ws.codec import ERROR_CODES, Codec, ProtocolError
from reznet_ws.codec.compression import gzip_compress

CODEC = Codec()
PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def error_code(
    text: str | None = None,
    bytes_data: bytes | None = None,
    *,
    v2: bool = True,
    codec: Codec = CODEC,
) -> str:
    with pytest.raises(ProtocolError) as caught:
        codec.parse_incoming(text, bytes_data, v2=v2)
    assert caught.value.code in ERROR_CODES
    assert isinstance(caught.value.detail, str)
    return caught.value.code


def gz(text: str) -> bytes:
    return gzip_compress(text.encode("utf-8"))


def test_error_codes_match_the_protocol_table() -> None:
    section = PROTOCOL.read_text(encoding="utf-8").split("### error", 1)[1].split("###", 1)[0]
    assert tuple(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)) == ERROR_CODES


def test_protocol_error_attributes() -> None:
    error = ProtocolError("too_deep", "nesting deeper than 64 levels")
    assert (error.code, error.detail) == ("too_deep", "nesting deeper than 64 levels")
    assert str(error) == "too_deep: nesting deeper than 64 levels"
    with pytest.raises(ValueError):
        ProtocolError("no_such_code")


# -- accepted messages ------------------------------------------------------------------------


def test_v1_messages_are_returned_as_parsed() -> None:
    message = '{"event": "send", "data": {"c": 1, "created_at": 0}}'
    assert CODEC.parse_incoming(message, v2=False) == [
        {"event": "send", "data": {"c": 1, "created_at": 0}}
    ]
    assert CODEC.parse_incoming('{"_v": 2, "e": "x", "d": {"c": 1}}', v2=False) == [
        {"_v": 2, "e": "x", "d": {"c": 1}}
    ]
    assert CODEC.parse_incoming('{"type": "ping"}', None, v2=True) == [{"type": "ping"}]


def test_v2_event_raw_and_batch_frames_are_decoded() -> None:
    assert CODEC.parse_incoming('{"_v":2,"e":"send","d":{"c":"hi","ts":0}}', v2=True) == [
        {"event": "send", "data": {"content": "hi", "created_at": "1970-01-01T00:00:00Z"}}
    ]
    assert CODEC.parse_incoming('{"_v":2,"e":"send","r":1,"d":{"c":1}}', v2=True) == [
        {"event": "send", "data": {"c": 1}}
    ]
    assert CODEC.parse_incoming('{"_v":2,"b":[["a",{"~c":1}],["b",null]]}', v2=True) == [
        {"event": "a", "data": {"c": 1}},
        {"event": "b", "data": None},
    ]
    assert CODEC.parse_incoming('{"_v":2,"b":[]}', v2=True) == []


def test_numbers_in_frame_keys_may_be_written_as_floats() -> None:
    assert CODEC.parse_incoming('{"_v":2.0,"e":"a","r":1e0,"d":{"c":1}}', v2=True) == [
        {"event": "a", "data": {"c": 1}}
    ]


def test_unknown_frame_keys_are_ignored() -> None:
    assert CODEC.parse_incoming('{"_v":2,"e":"a","d":1,"x":2}', v2=True) == [
        {"event": "a", "data": 1}
    ]


def test_gzip_frames_are_inflated() -> None:
    frame = '{"_v":2,"e":"send","d":{"c":"' + "é" * 5000 + '"}}'
    assert CODEC.parse_incoming(bytes_data=gz(frame), v2=True) == [
        {"event": "send", "data": {"content": "é" * 5000}}
    ]


def test_limits_are_inclusive() -> None:
    codec = Codec(max_message_bytes=20, max_depth=3)
    assert codec.parse_incoming('{"a":"' + "x" * 12 + '"}', v2=True)  # 20 bytes
    assert error_code('{"a":"' + "x" * 13 + '"}', codec=codec) == "too_large"
    assert codec.parse_incoming('{"a":[[1]]}', v2=True)  # depth 3
    assert error_code('{"a":[[[1]]]}', codec=codec) == "too_deep"
    codec = Codec(max_inflate_bytes=30)
    assert codec.parse_incoming(bytes_data=gz('{"_v":2,"e":"e","d":"' + "x" * 7 + '"}'), v2=True)
    assert error_code(bytes_data=gz('{"_v":2,"e":"e","d":"' + "x" * 8 + '"}'), codec=codec) == (
        "too_large"
    )


# -- every error code -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["{", "", " ", "{'a': 1}", '{"a": 1,}', "\ufeff{}", '{"a" 1}'])
def test_malformed_json(text: str) -> None:
    assert error_code(text) == "malformed_json"


def test_invalid_utf8_is_malformed_json() -> None:
    packed = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = packed.compress(b'{"_v":2,"e":"\xff","d":1}') + packed.flush()
    assert error_code(bytes_data=data) == "malformed_json"


def test_neither_text_nor_bytes() -> None:
    assert error_code(None, None) == "malformed_json"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        '{"a": [1e999]}',
        '{"a": -1e400}',
        '{"a": ' + "9" * 5000 + "}",
        '{"_v":2,"e":"x","d":{"ts":[NaN]}}',
    ],
)
def test_invalid_number(text: str) -> None:
    assert error_code(text) == "invalid_number"
    assert error_code(text, v2=False) == "invalid_number"


@pytest.mark.parametrize("text", ["[]", "1", '"s"', "null", "true", '[{"event": "x"}]'])
def test_not_an_object(text: str) -> None:
    assert error_code(text) == "not_an_object"
    assert error_code(bytes_data=gz(text)) == "not_an_object"


def test_unexpected_binary() -> None:
    assert error_code(bytes_data=gz('{"_v":2,"e":"e","d":1}'), v2=False) == "unexpected_binary"
    assert error_code(bytes_data=b'{"_v":2,"e":"e","d":1}') == "unexpected_binary"
    assert error_code(bytes_data=b"") == "unexpected_binary"
    assert error_code(bytes_data=zlib.compress(b"{}")) == "unexpected_binary"


def test_too_large_text() -> None:
    codec = Codec(max_message_bytes=100)
    assert error_code('{"a":"' + "x" * 100 + '"}', codec=codec) == "too_large"
    assert error_code('{"a":"' + "é" * 60 + '"}', codec=codec) == "too_large"  # 68 chars, 128 bytes
    assert codec.parse_incoming('{"a":"' + "é" * 40 + '"}', v2=True)  # 88 bytes


def test_too_large_binary_and_inflated() -> None:
    codec = Codec(max_message_bytes=100, max_inflate_bytes=1000)
    assert error_code(bytes_data=b"\x1f\x8b" + b"x" * 200, codec=codec) == "too_large"
    frame = '{"_v":2,"e":"e","d":"' + "x" * 1000 + '"}'
    assert len(gz(frame)) < 100
    assert error_code(bytes_data=gz(frame), codec=codec) == "too_large"


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(50)) + packer.flush()  # 50 MiB of zeros
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        assert error_code(bytes_data=bomb) == "too_large"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a":' * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"_v":2,"e":"e","d":' + "[" * 70 + "]" * 70 + "}",
    ],
)
def test_too_deep_never_recurses(text: str) -> None:
    assert error_code(text) == "too_deep"
    assert error_code(text, v2=False) == "too_deep"


def test_depth_limit_is_exact() -> None:
    ok = "[" * 63 + "{}" + "]" * 63
    assert CODEC.parse_incoming('{"a":' + ok[1:-1] + "}", v2=True)
    assert error_code('{"a":' + ok + "}") == "too_deep"
    assert error_code(bytes_data=gz('{"_v":2,"e":"e","d":' + "[" * 70 + "]" * 70 + "}")) == (
        "too_deep"
    )


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"a": "' + "[{" * 50_000 + '\\"]]", "b": ["\\\\", "{{{"]}'
    assert CODEC.parse_incoming(text, v2=True) == [{"a": "[{" * 50_000 + '"]]', "b": ["\\", "{{{"]}]


def test_depth_scan_is_linear_on_hostile_strings() -> None:
    # Many unterminated-looking strings: a backtracking scan would be quadratic here.
    assert error_code('{"a": [' * 40 + '"\\"' * 200_000) == "too_deep"
    assert error_code("[" * 70 + '"\\' * 200_000) == "too_deep"


@pytest.mark.parametrize("version", ["1", "3", '"2"', "2.5", "true", "null", "[2]", "-2"])
def test_unknown_version(version: str) -> None:
    assert error_code('{"_v":' + version + ',"e":"e","d":1}') == "unknown_version"


def test_decompression_failed() -> None:
    good = gz('{"_v":2,"e":"e","d":"' + "abc" * 100 + '"}')
    corrupt = good[:12] + bytes(b ^ 0x55 for b in good[12:20]) + good[20:]
    bad_crc = good[:-8] + bytes(b ^ 1 for b in good[-8:-4]) + good[-4:]
    for data in (good[:-10], good[:12], corrupt, bad_crc, good + b"x", good + good):
        assert error_code(bytes_data=data) == "decompression_failed", data


@pytest.mark.parametrize(
    "frame",
    [
        '{"_v":2}',
        '{"_v":2,"d":1}',
        '{"_v":2,"e":1,"d":1}',
        '{"_v":2,"e":null,"d":1}',
        '{"_v":2,"e":"e"}',
        '{"_v":2,"e":"e","r":2,"d":1}',
        '{"_v":2,"e":"e","r":true,"d":1}',
        '{"_v":2,"b":{}}',
        '{"_v":2,"b":[{}]}',
        '{"_v":2,"b":[["e"]]}',
        '{"_v":2,"b":[["e",1,2]]}',
        '{"_v":2,"b":[[1,1]]}',
        '{"_v":2,"b":[],"e":"e","d":1}',
        '{"_v":2,"e":"e","d":{"ts":253402300800000}}',
        '{"_v":2,"e":"e","d":{"ts":[0,3,null]}}',
        '{"_v":2,"e":"e","d":{"ts":[0,0,1440]}}',
        '{"_v":2,"e":"e","d":{"ts":[0.5,0,null]}}',
        '{"_v":2,"e":"e","d":{"ts":[0,true,null]}}',
        '{"_v":2,"b":[["e",{"m":{"uts":[0,0,"Z"]}}]]}',
    ],
)
def test_invalid_frame(frame: str) -> None:
    assert error_code(frame) == "invalid_frame"


def test_gzip_must_hold_a_v2_frame() -> None:
    assert error_code(bytes_data=gz('{"event": "send", "data": {}}')) == "invalid_frame"


def test_lenient_timestamp_values_decode_as_data() -> None:
    # Only integers and arrays of 1 or 3 elements are timestamp encodings; the rest is DATA.
    frame = '{"_v":2,"e":"e","d":{"ts":1.5,"uts":[1,2],"tms":"x","dts":true,"sts":1e3}}'
    assert CODEC.parse_incoming(frame, v2=True) == [
        {
            "event": "e",
            "data": {
                "created_at": 1.5,
                "updated_at": [1, 2],
                "timestamp": "x",
                "deleted_at": True,
                "started_at": "1970-01-01T00:00:01Z",  # 1e3 is the integer 1000
            },
        }
    ]
