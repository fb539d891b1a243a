"""Keyed events and deltas (protocol section 3.2): diff/apply and the receiver are lossless."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reznet_ws.codec import Codec, FieldMap
from reznet_ws.codec.delta import (
    DeltaError,
    accepts_delta,
    apply_delta,
    check_key,
    checked_diff,
    delta_frame,
    diff,
    dump_ops,
    keyed_frame,
    same,
)
from reznet_ws.codec.keyed_receiver import KeyedReceiver

from .test_codec_properties import JSON, VALUES, examples

CODEC = Codec(max_depth=10_000, json_backend="stdlib")
CUSTOM = Codec(
    FieldMap({"status": "s", "tasks": "t", "title": "ti"}, {"due_at"}), json_backend="stdlib"
)


def strict(value: object) -> str:
    """Compare strictly: types, -0.0, key order (``json.dumps`` keeps insertion order)."""
    return json.dumps(value)


def mutate(value: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    """Return a changed copy of ``value``: members set or removed, items spliced, types changed."""
    choice = draw(st.integers(0, 9))
    if type(value) is dict and value and choice < 6:
        out = dict(value)
        key = draw(st.sampled_from(sorted(out)))
        if choice == 0:
            del out[key]
        elif choice == 1:
            out[draw(st.text(max_size=3))] = draw(JSON)
        else:
            out[key] = mutate(out[key], draw, depth + 1)
        return out
    if type(value) is list and value and choice < 6:
        out = list(value)
        index = draw(st.integers(0, len(out) - 1))
        if choice == 0:
            del out[index]
        elif choice == 1:
            out.insert(index, draw(JSON))
        elif choice == 2:
            out.append(draw(JSON))
        else:
            out[index] = mutate(out[index], draw, depth + 1)
        return out
    return draw(JSON)


@st.composite
def sequences(draw: st.DrawFn) -> list[object]:
    """A series of versions of one object: each a mutation of the one before, or a new value."""
    values = [draw(VALUES)]
    for _ in range(draw(st.integers(1, 6))):
        previous = values[-1]
        values.append(mutate(previous, draw) if draw(st.booleans()) else draw(JSON))
    return values


@examples(1500)
@given(JSON, JSON)
def test_apply_of_diff_gives_the_new_value(old: object, new: object) -> None:
    ops = json.loads(dump_ops(diff(old, new)))
    assert strict(apply_delta(copy.deepcopy(old), ops)) == strict(new)
    assert same(apply_delta(copy.deepcopy(old), ops), new)


@examples(1500)
@given(JSON, JSON)
def test_the_checked_fast_diff_is_exact(old: object, new: object) -> None:
    ops = checked_diff(old, new, copy.deepcopy(old))
    assert strict(apply_delta(copy.deepcopy(old), json.loads(dump_ops(ops)))) == strict(new)


def test_the_fast_diff_falls_back_where_python_equality_is_loose() -> None:
    for old, new in [({"a": [1]}, {"a": [1.0]}), ([True], [1]), ([0.0], [-0.0]),
                     ({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}})]:  # fmt: skip
        assert diff(old, new, strict=False) == []  # Python's == cannot tell them apart
        ops = checked_diff(old, new, copy.deepcopy(old))
        assert ops and strict(apply_delta(copy.deepcopy(old), ops)) == strict(new)


@examples(600)
@given(sequences())
def test_the_receiver_rebuilds_what_v1_delivers(values: list[object]) -> None:
    for codec in (CODEC, CUSTOM):
        receiver = KeyedReceiver(codec)
        previous: object = None
        for version, value in enumerate(values, 1):
            text = codec.encode_data(value)
            encoded = json.loads(text)
            if version == 1:
                frame = keyed_frame(codec, "plan", "plan:1", version, "e1", text)
            else:
                ops = dump_ops(diff(previous, encoded))
                frame = delta_frame(codec, "plan", "plan:1", version, ops)
            previous = encoded
            result = receiver.receive(json.loads(frame))
            assert result is not None
            event, data, meta = result
            expected = json.loads(codec.encode_v1("plan", value))["data"]
            assert (event, strict(data)) == ("plan", strict(expected))
            assert meta == {"key": "plan:1", "version": version, "delta": version > 1}


def test_a_version_gap_is_never_applied() -> None:
    receiver = KeyedReceiver(CODEC)
    full = keyed_frame(CODEC, "plan", "k", 1, "e1", CODEC.encode_data({"a": 1}))
    assert receiver.receive(json.loads(full)) is not None
    skipped = delta_frame(CODEC, "plan", "k", 3, dump_ops([[["a"], 3]]))
    assert receiver.receive(json.loads(skipped)) is None
    # Nothing held any more: the next delta waits for a full object too.
    assert receiver.receive(json.loads(delta_frame(CODEC, "plan", "k", 4, "[]"))) is None
    assert receiver.gaps == 2


@pytest.mark.parametrize(
    ("value", "ops"),
    [
        ({"a": 1}, "not a list"),
        ({"a": 1}, [[["b"]]]),  # no member b to remove
        ({"a": 1}, [[[]]]),  # cannot remove the root
        ({"a": [1]}, [[["a", 5], 2]]),
        ({"a": [1]}, [[["a"], 0, 2, []]]),  # splice past the end
        ({"a": [1]}, [[["a"], -1, 0, []]]),
        ({"a": [1]}, [[["a", 0]]]),  # array items go with a splice
        ({"a": 1}, [[["a"], 0, 0, []]]),  # not an array
        ({"a": 1}, [[5, 1]]),  # a path is an array or a member name
        ({"a": 1}, [[["a"], 1, 2]]),
    ],
)
def test_malformed_deltas_raise_delta_error(value: object, ops: object) -> None:
    with pytest.raises(DeltaError):
        apply_delta(value, ops)


def test_same_tells_json_types_apart() -> None:
    assert not same(1, 1.0)
    assert not same(True, 1)
    assert not same(0.0, -0.0)
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})


def test_reordered_members_are_sent_whole() -> None:
    assert diff({"a": 1, "b": 2}, {"b": 2, "a": 1}) == [[[], {"b": 2, "a": 1}]]


def test_one_task_of_a_plan_changes_in_one_small_operation() -> None:
    plan = {"tasks": [{"id": i, "status": "todo", "title": f"task {i}"} for i in range(60)]}
    before = json.loads(CUSTOM.encode_data(plan))
    plan["tasks"][17]["status"] = "done"
    ops = diff(before, json.loads(CUSTOM.encode_data(plan)))
    assert ops == [[["t", 17, "s"], "done"]]


def test_an_inserted_level_is_one_splice() -> None:
    before = {"bids": [[100, 1], [99, 2], [98, 3]]}
    after = {"bids": [[100, 1], [99.5, 4], [99, 2], [98, 3]]}
    assert diff(before, after) == [[["bids"], 1, 0, [[99.5, 4]]]]


def test_features_and_keys() -> None:
    assert accepts_delta(b"reznet_features=content,delta")
    assert accepts_delta("x=1&reznet_features=delta")
    assert not accepts_delta(b"reznet_features=content")
    assert not accepts_delta(None)
    check_key("plan:42")
    with pytest.raises(TypeError):
        check_key(42)
    with pytest.raises(ValueError, match="characters"):
        check_key("")


def test_lone_surrogates_are_escaped_in_operations() -> None:
    text = dump_ops([[["a"], "\ud800"]])
    text.encode("utf-8")
    assert json.loads(text) == [["a", "\ud800"]]  # a one-member path is written as the name


@examples(300)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), JSON), min_size=1, max_size=12))
@example([("a", None), ("a", -9_999_999_999_999_998_976)])  # past 64 bits: no float on the way
@example([("a", [1]), ("a", [18_446_744_073_709_551_616])])
def test_the_server_streams_and_the_receiver_agree(updates: list[tuple[str, object]]) -> None:
    """KeyedStreams (full every 3, ratio 0.9, two keys at most) against the Python receiver."""
    from reznet_ws.delivery.keyed import KeyedStreams

    streams = KeyedStreams(2, 1 << 20, 3, 0.9)
    receiver = KeyedReceiver(CODEC)
    held: dict[str, tuple[str, int]] = {}  # what the server sent last per key, as Connection does
    for key, value in updates:
        step = streams.advance("", key, CODEC.encode_data(value), "ev")
        delta = step.ops is not None and held.get(key) == step.previous
        frame = step.delta_frame(CODEC, "ev") if delta else step.full_frame(CODEC, "ev")
        held[key] = step.current
        result = receiver.receive(json.loads(frame))  # type: ignore[arg-type]
        assert result is not None
        expected = json.loads(CODEC.encode_v1("ev", value))["data"]
        assert (result[0], strict(result[1])) == ("ev", strict(expected))
    assert len(streams) <= 2


def test_the_javascript_client_uses_the_same_names() -> None:
    from pathlib import Path

    from reznet_ws.codec.delta import DELTA_FEATURE, HAVE_PARAM, RESYNC_EVENT

    source = (
        Path(__file__).resolve().parents[1] / "reznet_ws/static/reznet_ws/reznet-ws-delta.js"
    ).read_text()
    for name, value in [
        ("DELTA_FEATURE", DELTA_FEATURE),
        ("RESYNC_EVENT", RESYNC_EVENT),
        ("HAVE_PARAM", HAVE_PARAM),
    ]:
        assert f'export const {name} = "{value}";' in source
