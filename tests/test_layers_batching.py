"""The pure batch buffer (reznet_ws.batching): no Django, no Channels, no event loop."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.batching import (
    BATCH_TYPE,
    BatchBuffer,
    Duplicates,
    FailureStreaks,
    Leftovers,
    envelope_id,
    pack,
    unpack,
)


def test_importing_batching_imports_neither_django_nor_channels() -> None:
    code = (
        "import sys, reznet_ws.batching; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'django', 'channels', 'asyncio'}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pack_envelopes_one_or_several_messages_with_an_id() -> None:
    one = {"type": "chat.message", "n": 1}
    lone = pack([one], "s", 7)
    assert lone["type"] == BATCH_TYPE
    assert (unpack(lone), envelope_id(lone)) == ([one], ("s", 7))
    envelope = pack([one, {"type": "chat.message", "n": 2}], "s", 8)
    assert unpack(envelope) == [one, {"type": "chat.message", "n": 2}]
    assert unpack(one) is None
    assert unpack({"type": BATCH_TYPE, "messages": "not a list"}) is None
    assert envelope_id({"type": BATCH_TYPE, "messages": [one]}) is None  # an older sender
    assert envelope_id({"type": BATCH_TYPE, "messages": [one], "id": ["s", True]}) is None


def test_duplicates_are_recognised_per_channel_and_stream() -> None:
    seen = Duplicates(max_streams=2)
    assert not seen.seen("c1", "a", 1)
    assert seen.seen("c1", "a", 1)  # the retried copy
    assert not seen.seen("c2", "a", 1)  # another member of the group gets it once too
    assert not seen.seen("c1", "b", 1)  # another sender's stream
    assert not seen.seen("c1", "a", 5)  # later envelopes of a stream pass
    assert seen.seen("c1", "a", 3)  # an older one arriving late was already counted lost
    assert not seen.seen("c1", "c", 1)  # a third stream: "b", the least recently used, goes
    assert len(seen) == 3
    assert not seen.seen("c1", "b", 1)  # forgotten: the bound is documented


def test_duplicates_of_a_silent_channel_are_swept() -> None:
    seen = Duplicates()
    seen.seen("gone", "a", 1)
    seen.seen("alive", "a", 1)
    seen.sweep()
    seen.seen("alive", "a", 2)
    seen.sweep()
    assert len(seen) == 1
    assert not seen.seen("gone", "a", 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"window": -1}, {"max_batch": 0}, {"max_batch": True}, {"max_buffer": 0}, {"window": "1"}],
)
def test_invalid_policy_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BatchBuffer(**kwargs)  # type: ignore[arg-type]


def test_a_target_is_due_on_size_age_or_force() -> None:
    buffer: BatchBuffer[str] = BatchBuffer(window=1.0, max_batch=3)
    assert buffer.delay("g", 0.0) is None
    buffer.add("g", {"n": 1}, now=10.0)
    assert buffer.delay("g", 10.25) == pytest.approx(0.75)
    assert buffer.delay("g", 11.0) == 0.0  # age
    buffer.add("g", {"n": 2}, now=10.5)
    buffer.add("g", {"n": 3}, now=10.5)
    assert buffer.delay("g", 10.5) == 0.0  # size
    batch = buffer.take("g")
    assert batch is not None
    assert [m["n"] for m in batch.messages] == [1, 2, 3]
    seq = buffer.add("h", {"n": 4}, now=12.0)
    assert buffer.force("h") == seq
    assert buffer.delay("h", 12.0) == 0.0  # forced


def test_urgent_forces_the_messages_before_it() -> None:
    buffer: BatchBuffer[str] = BatchBuffer(window=60.0, max_batch=10)
    buffer.add("g", {"n": 1}, now=0.0)
    buffer.add("g", {"n": 2}, now=0.0, urgent=True)
    assert buffer.delay("g", 0.0) == 0.0
    batch = buffer.take("g")
    assert batch is not None and [m["n"] for m in batch.messages] == [1, 2]
    buffer.add("g", {"n": 3}, now=0.0)
    assert buffer.delay("g", 0.0) == 60.0  # the force does not stick to later messages


def test_force_covers_a_batch_in_flight_until_done() -> None:
    buffer: BatchBuffer[str] = BatchBuffer(max_batch=2)
    buffer.add("g", {"n": 1}, now=0.0)
    second = buffer.add("g", {"n": 2}, now=0.0)
    batch = buffer.take("g")
    assert batch is not None and batch.last_seq == second
    assert buffer.force("g") == second  # nothing queued, but the batch is not done yet
    buffer.done("g", batch.last_seq)
    assert buffer.force("g") is None
    assert buffer.keys() == []


def test_a_full_buffer_refuses_new_messages_and_counts_them() -> None:
    buffer: BatchBuffer[str] = BatchBuffer(max_batch=2, max_buffer=3)
    assert all(buffer.add(k, {}, now=0.0) for k in "abc")
    assert buffer.add("a", {}, now=0.0) is None
    assert (buffer.size, buffer.dropped) == (3, 1)
    buffer.take("a")
    assert buffer.add("a", {}, now=0.0) is not None


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from("abc"), st.booleans()),
        st.tuples(st.just("take"), st.sampled_from("abc"), st.booleans()),
    ),
    max_size=200,
)


@given(operations, st.integers(1, 5), st.integers(1, 20))
def test_per_target_order_and_bounds_hold_for_any_interleaving(
    ops: list[tuple[str, str, bool]], max_batch: int, max_buffer: int
) -> None:
    buffer: BatchBuffer[str] = BatchBuffer(window=0.0, max_batch=max_batch, max_buffer=max_buffer)
    sent: dict[str, list[int]] = {k: [] for k in "abc"}
    got: dict[str, list[int]] = {k: [] for k in "abc"}
    counter = 0
    for op, key, flag in ops:
        if op == "add":
            counter += 1
            if buffer.add(key, {"n": counter}, now=0.0, urgent=flag) is not None:
                sent[key].append(counter)
        else:
            batch = buffer.take(key)
            if batch is not None:
                assert 1 <= len(batch.messages) <= max_batch
                got[key] += [m["n"] for m in batch.messages]
                buffer.done(key, batch.last_seq)
        assert 0 <= buffer.size <= max_buffer
    for key in "abc":
        while (batch := buffer.take(key)) is not None:
            got[key] += [m["n"] for m in batch.messages]
            buffer.done(key, batch.last_seq)
    assert got == sent
    assert buffer.size == 0 and buffer.keys() == []
    assert buffer.dropped == counter - sum(len(v) for v in sent.values())


@given(st.lists(st.lists(st.integers(), max_size=4), max_size=20))
def test_leftovers_return_every_message_in_order(batches: list[list[int]]) -> None:
    leftovers = Leftovers()
    out: list[int] = []
    for batch in batches:
        leftovers.push("c", [{"n": n} for n in batch])
        message = leftovers.pop("c")
        if message is not None:
            out.append(message["n"])
    while (message := leftovers.pop("c")) is not None:
        out.append(message["n"])
    assert out == [n for batch in batches for n in batch]
    assert len(leftovers) == 0 and "c" not in leftovers


def test_leftovers_of_a_silent_channel_are_swept() -> None:
    leftovers = Leftovers()
    leftovers.push("dead", [{"n": 1}, {"n": 2}])
    leftovers.push("alive", [{"n": 3}, {"n": 4}])
    assert leftovers.sweep() == 0  # both were touched since the last sweep
    assert leftovers.pop("alive") == {"n": 3}
    assert leftovers.sweep() == 2  # "dead" was not
    assert "dead" not in leftovers
    assert leftovers.pop("alive") == {"n": 4}


def test_failure_streaks_log_once_per_streak_and_not_too_often() -> None:
    streaks = FailureStreaks(log_interval=60.0)
    assert not streaks
    assert streaks.failed("unavailable", now=0.0) is True
    assert streaks.failed("unavailable", now=1.0) is False
    assert streaks
    assert streaks.succeeded(["unavailable", "dropped"]) == {"unavailable": 2}
    assert not streaks
    # A new streak soon after is counted but not logged again; after the interval it is.
    assert streaks.failed("unavailable", now=2.0) is False
    assert streaks.succeeded(["unavailable"]) == {}
    assert streaks.failed("unavailable", now=100.0) is True
