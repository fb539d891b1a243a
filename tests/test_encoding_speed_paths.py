"""The fast paths of encoding: the orjson backend, the measured v1 size, the C-encoder shim.

Every property holds with and without orjson: the stdlib backend is always tested, the orjson one
wherever orjson is installed (CI installs it with the ``test`` extra).
"""

from __future__ import annotations

import decimal
import enum
import json
import logging
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.fastjson import (
    ascii_json_length,
    float_length_fix,
    orjson,
    resolve_backend,
)
from reznet_ws.codec.jsonshim import compact_dumps
from reznet_ws.codec.jsonvalues import django_default
from reznet_ws.encoding import EncodedEvent
from tests.conftest import require_or_skip
from tests.test_codec_properties import JSON, examples

BACKENDS = ["stdlib", "orjson"]


def codec_for_backend(backend: str, **kwargs: Any) -> Codec:
    if backend == "orjson":
        require_or_skip(orjson is not None, "orjson (pip install 'reznet-ws[fast]')")
    return Codec(json_backend=backend, max_depth=10_000, **kwargs)


def plain_v1(data: object) -> str:
    return json.dumps({"event": "ev", "data": data}, default=django_default)


class Level(enum.IntEnum):
    HIGH = 3


class Side(str, enum.Enum):
    BUY = "buy"


class Price(float):
    pass


SPECIAL = [
    {"big": 2**64, "small": -(2**63) - 1, "huge": [10**30, -(10**40)]},
    {"max": 2**64 - 1, "min": -(2**63)},
    {"lone": "a\ud800b", "\udc00": 1},
    {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
    {1: "a", "1": "b"},
    {"level": Level.HIGH, "side": Side.BUY, "price": Price(1.5), "t": (1, 2)},
    {"d": decimal.Decimal("1.10"), "created_at": Side.BUY, "updated_at": Price(2.0)},
    {"tiny": [1e-05, 1.5e-08, 0.00012, -2e-7], "text": "e-mail 0.00001", "k": 1e16},
    {"null": None, "s": "null", "n": [None, [None], {"x": None}]},
    {"rows": [[1.5, 2], [], [None, True]], "deep": [[[1.0]]]},
    [],
    {},
    "text",
    None,
    -0.0,
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("data", SPECIAL, ids=range(len(SPECIAL)))
def test_special_values_decode_as_v1_and_are_measured_exactly(backend: str, data: object) -> None:
    codec = codec_for_backend(backend)
    text, size = codec.encode_data_sized(data)
    assert codec.decode_data(json.loads(text)) == json.loads(json.dumps(data, default=str))
    expected = len(json.dumps(data, default=django_default))
    assert size in (expected, None)
    if not (isinstance(data, dict) and {1, "1"} <= set(data)):
        assert size == expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"p": [1.0, math.nan]}])
def test_nan_and_infinities_are_refused_by_every_backend(backend: str, bad: object) -> None:
    with pytest.raises(ValueError):
        codec_for_backend(backend).encode_data_sized(bad)


@pytest.mark.parametrize("backend", BACKENDS)
@examples(300)
@given(data=JSON)
def test_decoding_gives_v1_and_the_size_is_v1s(backend: str, data: object) -> None:
    codec = codec_for_backend(backend)
    text, size = codec.encode_data_sized(data)
    v1 = plain_v1(data)
    assert codec.decode_data(json.loads(text)) == json.loads(v1)["data"]
    if size is not None:
        assert codec.v1_size_from_data("ev", size) == len(v1)


@examples(200)
@given(data=JSON)
def test_both_backends_write_the_same_value(data: object) -> None:
    require_or_skip(orjson is not None, "orjson (pip install 'reznet-ws[fast]')")
    fast, slow = Codec(json_backend="orjson"), Codec(json_backend="stdlib")
    assert json.loads(fast.encode_data(data)) == json.loads(slow.encode_data(data))
    assert fast.encode_data_sized(data)[1] == slow.encode_data_sized(data)[1]


@examples(200)
@given(data=JSON)
def test_v1_is_byte_identical_to_json_dumps(data: object) -> None:
    assert Codec().encode_v1("ev", data) == plain_v1(data)


@examples(200)
@given(text=st.text(st.characters(exclude_categories=())))
def test_ascii_json_length_is_the_length_of_json_dumps(text: str) -> None:
    compact = json.dumps(text, ensure_ascii=False)
    if not any("\ud800" <= char <= "\udfff" for char in text):
        assert ascii_json_length(compact) == len(json.dumps(text))


@examples(300)
@given(numbers=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=6))
def test_float_length_fix_matches_python_repr(numbers: list[float]) -> None:
    require_or_skip(orjson is not None, "orjson (pip install 'reznet-ws[fast]')")
    data = orjson.dumps([numbers, "1e-5 0.00001", {"e-": numbers}])  # type: ignore[union-attr]
    expected = json.dumps([numbers, "1e-5 0.00001", {"e-": numbers}], separators=(",", ":"))
    assert len(data) + float_length_fix(data) == len(expected)


@pytest.mark.parametrize("ensure_ascii", [True, False])
@examples(200)
@given(data=JSON)
def test_public_fallback_of_the_c_encoder_shim_writes_the_same(
    ensure_ascii: bool, data: object
) -> None:
    value = Codec(max_depth=10_000)._encode_value(data, [0, 0, 0, 0])
    fallback = compact_dumps(ensure_ascii=ensure_ascii, private=False)
    fast = compact_dumps(ensure_ascii=ensure_ascii)
    assert fallback(value) == fast(value)


def test_the_shim_fallback_is_the_public_encoder() -> None:
    fallback = compact_dumps(ensure_ascii=True, private=False)
    assert getattr(fallback, "__self__", None).__class__ is json.JSONEncoder
    with pytest.raises(ValueError):
        fallback(math.nan)


def test_backend_setting_is_checked() -> None:
    assert resolve_backend("stdlib") == "stdlib"
    assert resolve_backend("auto") == ("stdlib" if orjson is None else "orjson")
    with pytest.raises(ValueError, match="JSON_BACKEND"):
        resolve_backend("ujson")
    if orjson is None:
        with pytest.raises(ImportError, match=r"reznet-ws\[fast\]"):
            resolve_backend("orjson")


# -- EncodedEvent: the original size without the v1 text ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_v2_frame_measures_v1_without_writing_it(backend: str, caplog: Any) -> None:
    codec = codec_for_backend(backend)
    data = {"content": "héllo 😀 " * 300, "created_at": "2025-10-25T12:00:00Z", "n": [1.5, None]}
    encoded = EncodedEvent("message_new", data)
    assert encoded.v2_data_text(codec) is not None
    with caplog.at_level(logging.INFO, logger="reznet_ws.payload"):
        _, _, size = encoded.v2_frame(codec, allow_gzip=False)
    assert encoded._v1 is None  # no v1 recipient: the v1 text was never written
    v1 = plain_v1(data).replace('"ev"', '"message_new"')
    assert encoded.v1_size(codec) == len(v1)
    assert f"Payload message_new: {len(v1)}B -> {size}B" in caplog.text
    assert encoded.v1_text(codec) == v1


def test_v1_size_falls_back_to_the_v1_text_when_the_walk_cannot_know() -> None:
    codec = Codec()
    encoded = EncodedEvent("ev", {1: "a", "1": "b"})
    assert encoded.v2_data_text(codec) is not None
    assert encoded.v1_size(codec) == len(plain_v1({1: "a", "1": "b"}))
