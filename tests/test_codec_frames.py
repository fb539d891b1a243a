"""Frames out: v1, v2 event/raw/batch frames, DATA text, gzip; and decode_frame."""

from __future__ import annotations

import collections
import enum
import gzip
import json
import math
import random
import string
import zlib

import pytest

from reznet_ws.codec import Codec, FieldMap, ProtocolError
from reznet_ws.codec.compression import gzip_compress
from reznet_ws.codec.walk import make_encoder

CODEC = Codec()


def test_encode_v1_is_json_dumps_of_the_envelope() -> None:
    data = {"content": "hé", "n": [1, 2.5, None], "created_at": "2025-10-25T12:00:00Z"}
    assert CODEC.encode_v1("message_new", data) == json.dumps(
        {"event": "message_new", "data": data}
    )
    assert CODEC.v1_size("message_new", data) == len(CODEC.encode_v1("message_new", data).encode())


def test_encode_v1_uses_the_default() -> None:
    codec = Codec(default=lambda value: f"<{type(value).__name__}>")
    assert codec.encode_v1("e", {"x": object()}) == '{"event": "e", "data": {"x": "<object>"}}'
    assert codec.encode_data({"x": object()}) == '{"x":"<object>"}'


def test_event_frame_shape() -> None:
    text = CODEC.encode_data({"message_id": "m1", "created_at": "2025-10-25T12:00:00Z"})
    assert text == '{"mid":"m1","ts":1761393600000}'
    assert CODEC.event_frame("message_new", text) == (
        '{"_v":2,"e":"message_new","d":{"mid":"m1","ts":1761393600000}}'
    )
    assert CODEC.encode_event("message_new", {"message_id": "m1"}) == (
        '{"_v":2,"e":"message_new","d":{"mid":"m1"}}'
    )


def test_escapes_from_the_protocol() -> None:
    assert CODEC.encode_data({"c": 1, "content": 2}) == '{"~c":1,"c":2}'
    assert CODEC.encode_data({"~": 1, "~~a": 2, "plain": 3}) == '{"~~":1,"~~~a":2,"plain":3}'


def test_raw_frame_is_plain_json() -> None:
    data = {"content": "x", "c": 1, "created_at": "2025-10-25T12:00:00Z"}
    assert CODEC.raw_frame("error", data) == (
        '{"_v":2,"e":"error","r":1,"d":{"content":"x","c":1,"created_at":"2025-10-25T12:00:00Z"}}'
    )


def test_batch_frame_shape() -> None:
    items = [("a", CODEC.encode_data({"content": 1})), ("b", CODEC.encode_data(None))]
    assert CODEC.batch_frame(items) == '{"_v":2,"b":[["a",{"c":1}],["b",null]]}'
    assert CODEC.batch_frame([]) == '{"_v":2,"b":[]}'


def test_event_names_are_json_strings() -> None:
    assert CODEC.event_frame('a"b\\ü', "1") == '{"_v":2,"e":"a\\"b\\\\ü","d":1}'
    assert CODEC.event_frame("x\ud800", "1") == '{"_v":2,"e":"x\\ud800","d":1}'
    with pytest.raises(TypeError):
        CODEC.event_frame(1, "1")  # type: ignore[arg-type]


def test_non_ascii_stays_utf8_and_lone_surrogates_are_escaped() -> None:
    assert CODEC.encode_data({"content": "é😀"}) == '{"c":"é😀"}'
    text = CODEC.encode_data({"content": "é\ud800"})
    assert text == '{"c":"\\u00e9\\ud800"}'
    text.encode("utf-8")
    raw = CODEC.raw_frame("e", {"x": "\udfff"})
    assert raw.isascii() and json.loads(raw)["d"] == {"x": "\udfff"}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1, {"x": math.nan}]])
def test_encode_data_refuses_nan_and_infinities(bad: object) -> None:
    with pytest.raises(ValueError):
        CODEC.encode_data(bad)
    with pytest.raises(ValueError):
        CODEC.raw_frame("e", bad)


def test_encode_data_refuses_unserializable_values() -> None:
    with pytest.raises(TypeError):
        CODEC.encode_data({"x": object()})
    with pytest.raises(TypeError):
        CODEC.encode_data({("tuple", "key"): 1})
    with pytest.raises(TypeError):
        CODEC.encode_data({"x": {1, 2}})


def test_encode_data_refuses_too_deep_and_circular_data() -> None:
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        CODEC.encode_data(deep)
    circular: dict[str, object] = {}
    circular["self"] = circular
    with pytest.raises((RecursionError, ValueError)):
        CODEC.encode_data(circular)


class Color(enum.IntEnum):
    RED = 1


class Mood(str, enum.Enum):
    HAPPY = "happy"


@pytest.mark.parametrize(
    "data",
    [
        {"content": Color.RED, "status": Mood.HAPPY},
        collections.OrderedDict(content=1),
        collections.defaultdict(list, {"content": [1]}),
        {"tasks": (1, (2, 3))},
        {1: "int", 2.5: "float", None: "none", False: "bool"},
        {"created_at": Mood.HAPPY, "updated_at": Color.RED},
    ],
)
def test_subclasses_and_python_keys_are_written_as_v1_writes_them(data: object) -> None:
    [(_, decoded)] = CODEC.decode_frame(CODEC.encode_event("e", data))
    assert json.dumps(decoded) == json.dumps(json.loads(CODEC.encode_v1("e", data))["data"])


def test_unknown_key_cache_is_bounded_and_stays_correct() -> None:
    encode = make_encoder(FieldMap({"content": "c"}, []), str, cache_size=2)
    data = {f"k{index}": index for index in range(50)} | {"c": 0, "content": 1}
    assert encode(data) == {f"k{index}": index for index in range(50)} | {"~c": 0, "c": 1}
    assert encode(data) == encode(dict(data))


# -- gzip -------------------------------------------------------------------------------------


def test_small_frames_are_not_compressed() -> None:
    frame = CODEC.encode_event("e", {"content": "hello"})
    assert CODEC.finalize(frame) == (frame, False)


def test_large_repetitive_frames_are_compressed() -> None:
    frame = CODEC.encode_event("e", {"content": "hello world " * 1000})
    assert len(frame) > 10240
    packed, binary = CODEC.finalize(frame)
    assert binary and isinstance(packed, bytes)
    assert len(packed) < len(frame) // 10
    assert gzip.decompress(packed).decode() == frame
    assert CODEC.decode_frame(packed) == CODEC.decode_frame(frame)


def test_large_incompressible_frames_are_not_compressed() -> None:
    # Random printable text is the least compressible a text frame gets: gzip still saves about
    # 17 % (6.5 bits of entropy per byte), so the saving asked for is raised above that.
    rng = random.Random(7)
    noise = "".join(
        rng.choice(string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}")
        for _ in range(30_000)
    )
    frame = CODEC.encode_event("e", {"content": noise})
    packed = gzip_compress(frame.encode())
    assert 0.75 < len(packed) / len(frame) < 0.9
    assert Codec(gzip_min_saving=0.25).finalize(frame) == (frame, False)
    assert Codec(gzip_min_saving=0.10).finalize(frame)[1] is True


def test_no_gzip_when_not_allowed() -> None:
    frame = CODEC.encode_event("e", {"content": "x" * 20_000})
    assert CODEC.finalize(frame, allow_gzip=False) == (frame, False)


def test_threshold_counts_utf8_bytes() -> None:
    codec = Codec(gzip_threshold=1000)
    ascii_frame = "{" + "a" * 998 + "}"
    assert codec.finalize(ascii_frame[:-2] + "}")[1] is False  # 999 bytes
    assert codec.finalize(ascii_frame)[1] is True  # 1000 bytes
    wide = '{"c":"' + "é" * 500 + '"}'  # 508 characters, 1008 bytes
    assert codec.finalize(wide)[1] is True


def test_min_saving_is_respected() -> None:
    frame = CODEC.encode_event("e", {"content": "abcd" * 5000})
    assert Codec(gzip_min_saving=0.999).finalize(frame) == (frame, False)
    assert Codec(gzip_min_saving=0.5).finalize(frame)[1] is True


def test_gzip_output_is_deterministic() -> None:
    data = b"hello " * 100
    packed = gzip_compress(data)
    assert packed == gzip_compress(data)
    assert packed[:2] == b"\x1f\x8b" and packed[4:8] == b"\0\0\0\0"  # magic, mtime 0
    assert zlib.decompress(packed, 31) == data
    assert Codec(gzip_level=1, gzip_threshold=0).finalize("x" * 5000)[0] != packed


# -- decode_frame -----------------------------------------------------------------------------


def test_decode_frame_of_every_kind() -> None:
    assert CODEC.decode_frame('{"event": "e", "data": {"c": 1}}') == [("e", {"c": 1})]
    assert CODEC.decode_frame('{"_v":2,"e":"e","d":{"c":1}}') == [("e", {"content": 1})]
    assert CODEC.decode_frame('{"_v":2,"e":"e","r":1,"d":{"c":1}}') == [("e", {"c": 1})]
    assert CODEC.decode_frame('{"_v":2,"b":[["a",{"c":1}],["b",2]]}') == [
        ("a", {"content": 1}),
        ("b", 2),
    ]
    assert CODEC.decode_frame(gzip_compress(b'{"_v":2,"e":"e","d":{"ts":0}}')) == [
        ("e", {"created_at": "1970-01-01T00:00:00Z"})
    ]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "pong"}', "invalid_frame"),
        ("[1]", "not_an_object"),
        ('{"_v":3,"e":"e","d":1}', "unknown_version"),
        ('{"_v":2,"e":"e","d":{"ts":1e400}}', "invalid_number"),
        ('{"_v":2,"e":"e","d":{"ts":[0,7,null]}}', "invalid_frame"),
        (b"not gzip", "unexpected_binary"),
        ("{", "malformed_json"),
    ],
)
def test_decode_frame_errors(frame: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        CODEC.decode_frame(frame)
    assert caught.value.code == code
