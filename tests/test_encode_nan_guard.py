"""The orjson backend's NaN guard: a value without floats skips the ``null`` count, safely.

orjson writes NaN and infinities as ``null``; the codec compares the nulls of its output with
those the walk counted, but only when the walk saw a float: without one there can be no NaN. These
properties check that every way a non-finite float can reach the writer (a plain value, a float
subclass, rows of numbers, a timestamp field, what ``default`` returns) flags a float, so both
backends refuse it alike, and that values without floats give the stdlib backend's text.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.fastjson import orjson
from reznet_ws.codec.jsonvalues import django_default
from tests.conftest import require_or_skip
from tests.test_codec_properties import JSON, examples


class Price(float):
    pass


class Boxed:
    """Converted by ``default`` to the float it holds."""

    def __init__(self, value: float) -> None:
        self.value = value


def default(value: object) -> object:
    if isinstance(value, Boxed):
        return value.value
    return django_default(value)


NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
BAD = st.one_of(
    NON_FINITE,
    NON_FINITE.map(Price),
    NON_FINITE.map(Boxed),
    NON_FINITE.map(lambda x: [[1, x]]),  # rows of numbers, checked in one pass
    NON_FINITE.map(lambda x: [1, "a", x]),
    NON_FINITE.map(lambda x: {"created_at": x}),  # a timestamp field
    NON_FINITE.map(lambda x: {"timestamp": [x]}),
    NON_FINITE.map(lambda x: (x,)),
)


def _insert(data: object, bad: object, path: list[int]) -> object:
    """Return ``data`` with ``bad`` placed somewhere inside it (by ``path``)."""
    if not path:
        return {"x": data, "bad": bad}
    step, rest = path[0], path[1:]
    if isinstance(data, dict) and data:
        key = list(data)[step % len(data)]
        return {**data, key: _insert(data[key], bad, rest)}
    if isinstance(data, list) and data:
        index = step % len(data)
        return [*data[:index], _insert(data[index], bad, rest), *data[index + 1 :]]
    return [data, bad]


def codecs() -> tuple[Codec, Codec]:
    require_or_skip(orjson is not None, "orjson (pip install 'reznet-ws[fast]')")
    kwargs: dict[str, Any] = {"default": default, "max_depth": 10_000}
    return Codec(json_backend="orjson", **kwargs), Codec(json_backend="stdlib", **kwargs)


@examples(300)
@given(data=JSON, bad=BAD, path=st.lists(st.integers(0, 50), max_size=6))
def test_non_finite_floats_are_refused_by_both_backends(
    data: object, bad: object, path: list[int]
) -> None:
    fast, slow = codecs()
    value = _insert(data, bad, path)
    tally = [0, 0, 0, 0]
    fast._encode_value(value, tally)
    assert tally[2] & 1  # the walk flagged a float, so the null count runs
    for codec in (fast, slow):
        try:
            codec.encode_data_sized(value)
        except ValueError:
            continue
        raise AssertionError(f"{codec.json_backend} wrote a non-finite float")


@examples(300)
@given(data=JSON)
def test_without_floats_the_fast_text_is_the_stdlib_text(data: object) -> None:
    fast, slow = codecs()
    tally = [0, 0, 0, 0]
    fast._encode_value(data, tally)
    fast_text, fast_size = fast.encode_data_sized(data)
    slow_text, slow_size = slow.encode_data_sized(data)
    assert json.loads(fast_text) == json.loads(slow_text)
    assert fast_size == slow_size
    if not tally[2]:
        assert "NaN" not in slow_text and "Infinity" not in slow_text


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_float_beside_colliding_keys_is_refused(bad: float) -> None:
    """Keys that collide (``1`` and ``"1"``) make the walk's null count differ from the text's:
    the null check must not be fooled into sending NaN as ``null``."""
    for codec in codecs():
        with pytest.raises(ValueError):
            codec.encode_data_sized({1: None, "1": None, "x": bad})
