"""Custom field maps: from settings, validated for checks, escaping only what collides."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import (
    DEFAULT_FIELD_MAP,
    DEFAULT_TIMESTAMP_FIELDS,
    Codec,
    FieldMap,
    validate_field_map,
)
from tests.test_codec_properties import JSON, examples

MARKET = FieldMap({"symbol": "sy", "volume": "v"}, [])


def test_from_settings_without_keys_is_the_default_map() -> None:
    assert FieldMap.from_settings({}) == FieldMap.default()
    none_keys = {"FIELD_MAP": None, "TIMESTAMP_FIELDS": None}
    assert FieldMap.from_settings(none_keys) == FieldMap.default()


def test_from_settings_replaces_and_extends() -> None:
    field_map = FieldMap.from_settings(
        {
            "FIELD_MAP": {"symbol": "sy"},
            "EXTRA_FIELDS": {"volume": "v"},
            "TIMESTAMP_FIELDS": ["time"],
            "EXTRA_TIMESTAMP_FIELDS": ["closed_at"],
        }
    )
    assert field_map == FieldMap({"symbol": "sy", "volume": "v"}, ["time", "closed_at"])
    extended = FieldMap.from_settings({"EXTRA_FIELDS": {"symbol": "sy"}})
    assert extended.mapping == DEFAULT_FIELD_MAP | {"symbol": "sy"}
    assert extended.timestamp_fields == DEFAULT_TIMESTAMP_FIELDS


def test_from_settings_refuses_an_invalid_map() -> None:
    with pytest.raises(ValueError, match="bijection"):
        FieldMap.from_settings({"FIELD_MAP": {"a": "x", "b": "x"}})
    with pytest.raises(ValueError, match="bijection"):
        FieldMap.from_settings({"EXTRA_FIELDS": {"my_status": "s"}})  # "status" owns "s"


def test_validate_field_map_lists_every_problem() -> None:
    assert validate_field_map({"symbol": "sy"}, ["time"]) == []
    assert validate_field_map(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS) == []
    problems = validate_field_map({"a": "", "b": "~b", "c": "x", "d": "x", 1: "y"}, "time")
    assert len(problems) == 5
    assert any("empty" in p for p in problems)
    assert any("'~'" in p for p in problems)
    assert any("bijection" in p for p in problems)
    assert any("must be str" in p for p in problems)
    assert any("timestamp_fields" in p for p in problems)
    assert validate_field_map(["a"]) == ["a field map must be a mapping of str to str, not list"]


def test_only_keys_that_collide_are_escaped() -> None:
    codec = Codec(MARKET)
    data = {"s": "BTCUSDT", "p": 1.5, "q": 2, "t": 1, "seq": 3, "symbol": "x", "v": 1, "~": 0}
    assert json.loads(codec.encode_data(data)) == {
        "s": "BTCUSDT",
        "p": 1.5,
        "q": 2,
        "t": 1,
        "seq": 3,
        "sy": "x",
        "~v": 1,
        "~~": 0,
    }
    assert "~" not in Codec(FieldMap({}, [])).encode_data({"s": 1, "c": 2, "p": [3]})


NAMES = st.text(st.sampled_from("abcs~é"), min_size=1, max_size=3)


@st.composite
def field_maps(draw: st.DrawFn) -> FieldMap:
    """A random valid map over a small alphabet, so its names collide with data keys."""
    fulls = draw(st.lists(NAMES, max_size=6, unique=True))
    shorts = draw(
        st.lists(
            NAMES.filter(lambda s: not s.startswith("~")),
            min_size=len(fulls),
            max_size=len(fulls),
            unique=True,
        )
    )
    stamps = draw(st.lists(st.sampled_from(fulls or ["a"]), max_size=2))
    return FieldMap(dict(zip(fulls, shorts, strict=True)), stamps)


DATA_KEYS = st.one_of(NAMES, st.sampled_from(["", "~", "ts"]))
DATA = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just("2025-10-25T12:00:00Z")),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(DATA_KEYS, children, max_size=4)
    ),
    max_leaves=15,
)


@examples(300)
@given(field_map=field_maps(), data=st.one_of(DATA, JSON))
def test_any_valid_map_round_trips(field_map: FieldMap, data: object) -> None:
    codec = Codec(field_map, max_depth=10_000)
    v1 = json.loads(codec.encode_v1("ev", data))["data"]
    [(_, decoded)] = codec.decode_frame(codec.encode_event("ev", data))
    assert decoded == v1


@examples(300)
@given(field_map=field_maps(), keys=st.lists(DATA_KEYS, max_size=6, unique=True))
def test_a_key_is_escaped_only_when_it_collides(field_map: FieldMap, keys: list[str]) -> None:
    codec = Codec(field_map)
    written = list(json.loads(codec.encode_data(dict.fromkeys(keys, 0))))
    shorts = set(field_map.mapping.values())
    for key, out in zip(keys, written, strict=True):
        if key in field_map.mapping:
            assert out == field_map.mapping[key]
        elif key in shorts or key.startswith("~"):
            assert out == "~" + key
        else:
            assert out == key
