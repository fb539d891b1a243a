"""Compiled dict shapes: a shape the walk has compiled encodes exactly as the general path.

The walk compiles a dict's key tuple once it recurs, specialised to the value types it saw then;
later dicts of that shape may hold any values. Each property encodes a first dict (which compiles
its shape and those of its nested dicts) and then another of the same keys with other values, and
compares the value and the v1 size tally with a walk that never compiles.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.walk import make_sized_encoder
from tests.test_codec_properties import KEYS, PY_VALUES, STAMP_FIELDS, STAMP_TEXT, examples

CODEC = Codec(max_depth=10_000)
GENERAL = make_sized_encoder(CODEC.field_map, CODEC.default, compile_after=10**9)
VALUES = st.one_of(PY_VALUES, STAMP_TEXT, st.just("2025-10-25T12:00:05.338Z"))
SHAPE_KEYS = st.lists(st.one_of(KEYS, st.sampled_from(STAMP_FIELDS)), max_size=8, unique=True)


def encoded(encode: Any, value: object) -> tuple[object, list[int]]:
    tally = [0, 0, 0, 0]
    try:
        return encode(value, tally), tally
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc), tally


@examples(500)
@given(keys=SHAPE_KEYS, data=st.data())
def test_a_compiled_shape_encodes_any_values_as_the_general_path(
    keys: list[str], data: Any
) -> None:
    compiling = make_sized_encoder(CODEC.field_map, CODEC.default, compile_after=1)
    first = {key: data.draw(VALUES) for key in keys}
    assert encoded(compiling, first) == encoded(GENERAL, first)  # compiles the shapes in it
    for _ in range(3):
        second = {key: data.draw(VALUES) for key in keys}
        nested = {"outer": second, "list": [second, first]}
        assert encoded(compiling, second) == encoded(GENERAL, second)
        assert encoded(compiling, nested) == encoded(GENERAL, nested)


@examples(200)
@given(value=PY_VALUES)
def test_compiling_on_the_fourth_sighting_changes_nothing(value: object) -> None:
    compiling = make_sized_encoder(CODEC.field_map, CODEC.default)
    expected = encoded(GENERAL, value)
    for _ in range(6):
        assert encoded(compiling, value) == expected


def test_shapes_are_compiled_once_they_recur_and_not_beyond_the_bound() -> None:
    calls: list[tuple[object, ...]] = []
    encode = make_sized_encoder(CODEC.field_map, CODEC.default, cache_size=2, compile_after=2)
    compiled = _compiled(encode)
    for shape in ({"a": 1}, {"a": 2}, {"b": 1}, {"b": 2}, {"c": 1}, {"c": 2}, {"c": 3}):
        assert encoded(encode, shape) == encoded(GENERAL, shape)
        calls.append(tuple(compiled))
    assert calls[0] == ()  # seen once: not compiled yet
    assert calls[1] == (("a",),)
    assert calls[-1] == (("a",), ("b",))  # bounded: a third recurring shape stays general


def test_colliding_keys_and_non_str_keys_stay_on_the_general_path() -> None:
    encode = make_sized_encoder(CODEC.field_map, CODEC.default, compile_after=1)
    for value in ({1: "a", "1": "b"}, {"message_id": 1, "mi": 2}, {None: 1}):
        for _ in range(3):
            assert encoded(encode, value) == encoded(GENERAL, value)
    assert set(_compiled(encode)) <= {("message_id", "mi")}


def _compiled(encode: Any) -> dict[tuple[object, ...], Any]:
    # The compiled shapes live in the walk's closure; found by name, for these tests only.
    cells = dict(zip(encode.__code__.co_freevars, encode.__closure__, strict=True))
    enc_dict = cells["enc_dict"].cell_contents
    inner = dict(zip(enc_dict.__code__.co_freevars, enc_dict.__closure__, strict=True))
    return inner["compiled_get"].cell_contents.__self__  # type: ignore[no-any-return]


def test_a_value_type_named_like_anything_is_never_taken_for_a_timestamp_field() -> None:
    stamp = type("stamp", (), {})  # a class whose name a code generator might confuse
    codec = Codec(default=lambda value: "x")
    encode = make_sized_encoder(codec.field_map, codec.default, compile_after=1)
    general = make_sized_encoder(codec.field_map, codec.default, compile_after=10**9)
    for value in ({"note": stamp()}, {"note": "2024-01-02T03:04:05.678Z"}, {"note": 5}):
        assert encoded(encode, value) == encoded(general, value)
