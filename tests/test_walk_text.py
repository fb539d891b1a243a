"""The walk that writes its own text: the same text and tally as the general walk written by json.

With the standard library's json the codec writes the text of a compiled dict shape directly
(``reznet_ws.codec.walk_text``). Each property compiles shapes from a first dict (every shape
compiles on first sight here), then writes other dicts of the same keys holding any values, nested
and in lists, and compares the text and the v1 size tally with the never-compiling walk's value
written by json.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.fastjson import ascii_escaped
from reznet_ws.codec.jsonshim import compact_dumps
from reznet_ws.codec.walk_text import make_text_encoder
from tests.test_codec_properties import JSON, examples
from tests.test_walk_compiled import GENERAL, SHAPE_KEYS, VALUES

CODEC = Codec(max_depth=10_000, json_backend="stdlib")
DUMP = compact_dumps(ensure_ascii=False)
# Values the compiled writers take themselves, with their edge cases.
EDGES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-4, -1e-5, 5e-324, 1e16, 1e300, True, False, None, 0, -1]),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x7f", '"', "\\", "\n"])),
)
ANY = st.one_of(VALUES, EDGES)


def expected(value: object) -> tuple[object, list[int]]:
    tally = [0, 0, 0, 0]
    try:
        return DUMP(GENERAL(value, tally)), tally
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc), []


def written(encode_text: Any, value: object) -> tuple[object, list[int]]:
    tally = [0, 0, 0, 0]
    try:
        return encode_text(value, tally), tally
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc), []  # a refused value: the tally is not used


def text_encoder() -> Any:
    _, encode_text = make_text_encoder(CODEC.field_map, CODEC.default, DUMP, compile_after=1)
    return encode_text


@examples(500)
@given(keys=SHAPE_KEYS, data=st.data())
def test_a_compiled_text_shape_writes_what_json_writes_of_the_general_walk(
    keys: list[str], data: Any
) -> None:
    encode_text = text_encoder()
    first = {key: data.draw(ANY) for key in keys}
    assert written(encode_text, first) == expected(first)  # compiles the shapes in it
    for _ in range(3):
        second = {key: data.draw(ANY) for key in keys}
        nested = {
            "outer": second,
            "records": [second, first, second, {}],
            "list": [second, first, None],
            "more": [[second]],
        }
        assert written(encode_text, second) == expected(second)
        assert written(encode_text, nested) == expected(nested)


@examples(300)
@given(value=ANY)
def test_text_of_any_value_is_what_json_writes_of_the_walk(value: object) -> None:
    encode_text = text_encoder()
    for _ in range(3):
        assert written(encode_text, value) == expected(value)
        assert written(encode_text, {"v": value, "w": [value]}) == expected(
            {"v": value, "w": [value]}
        )


def test_refused_values_in_a_compiled_shape_raise_as_json_does() -> None:
    encode_text = text_encoder()
    assert written(encode_text, {"price": 1.5, "n": 1}) == expected({"price": 1.5, "n": 1})
    for price in (math.nan, math.inf, -math.inf):
        assert written(encode_text, {"price": price, "n": 1}) == (ValueError, [])
    assert written(encode_text, {"price": object(), "n": 1}) == (TypeError, [])
    # A timestamp field keeps its encoding, and a value that is no timestamp is written as it is.
    first = {"created_at": "2025-10-25T12:00:05.338Z", "id": 1}
    assert written(encode_text, first) == expected(first)
    for stamp in ("2025-10-25T12:00:05.338+02:00", "not a time", None, 5, 2.5, [1], {"a": 1}):
        other = {"created_at": stamp, "id": 2}
        assert written(encode_text, other) == expected(other)


def test_the_stdlib_codec_writes_compiled_shapes_byte_for_byte_as_before() -> None:
    """A long-lived stdlib codec (shapes compiled after four sightings) and a walk written by json
    give the same frames and sizes for records of recurring shapes, with surrogates and non-ASCII
    text among them."""
    codec = Codec(max_depth=10_000, json_backend="stdlib")
    for index in range(12):
        data = {
            "message_id": f"id-{index}",
            "content": ["plain", "après 🚀", "\ud800 lone", 'quote " and \\'][index % 4],
            "created_at": "2025-10-25T12:00:05.338Z",
            "updated_at": None if index % 2 else "2025-10-25T14:00:00.123+02:00",
            "metadata": {"score": index / 7, "tags": ["a", "b"], "ok": index % 3 == 0},
        }
        text, size = codec.encode_data_sized(data)
        tally = [0, 0, 0, 0]
        value = GENERAL(data, tally)
        plain = DUMP(value)
        try:
            plain.encode("utf-8")
        except UnicodeEncodeError:
            plain = compact_dumps(ensure_ascii=True)(value)
        assert text == plain
        assert size == len(json.dumps(data))
        assert codec.decode_data(json.loads(text)) == json.loads(json.dumps(data))  # lossless


@examples(500)
@given(value=JSON)
def test_ascii_escaping_the_text_is_what_json_writes_with_ensure_ascii(value: object) -> None:
    """A frame holding lone surrogates goes ASCII-escaped: escaped from the text written, without
    walking the data again (which would call ``default`` twice)."""
    assert ascii_escaped(DUMP(value)) == compact_dumps(ensure_ascii=True)(value)


def test_lone_surrogates_are_escaped_without_a_second_walk() -> None:
    calls: list[object] = []

    def default(value: object) -> object:
        calls.append(value)
        return str(value)

    codec = Codec(default=default, json_backend="stdlib")
    text, size = codec.encode_data_sized({"when": date(2025, 1, 1), "note": "\ud800 é"})
    assert text.isascii() and json.loads(text)["note"] == "\ud800 é"
    assert size == len(json.dumps({"when": "2025-01-01", "note": "\ud800 é"}))
    assert calls == [date(2025, 1, 1)]


def test_a_compiled_shape_raises_what_the_walk_raises_whatever_the_order_of_values() -> None:
    """A NaN before a value the walk refuses: the error is the walk's, as on the first sight of
    the shape, not json's ValueError for the NaN the text path met first."""
    circular: list[object] = []
    circular.append(circular)
    codec = Codec(json_backend="stdlib")
    cases = [
        ({"price": 1.5, "extra": "x"}, {"price": math.nan, "extra": object()}, TypeError),
        ({"price": 1.5, "rows": [1]}, {"price": math.inf, "rows": circular}, RecursionError),
        ({"n": 1, "c": []}, {"n": 10**5000, "c": circular}, RecursionError),
    ]
    for ordinary, bad, error in cases:
        for _ in range(6):  # before and after the shape compiles
            codec.encode_data_sized(ordinary)
            with pytest.raises(error):
                codec.encode_data_sized(bad)
