"""The in-process recorder, its flush, the payload log line and the stats built from the store."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from reznet_ws.stats import (
    OTHER_EVENT,
    Snapshot,
    StatsRecorder,
    StatsStore,
    StatsUnavailable,
    build_stats,
    get_recorder,
    get_stats,
    log_payload,
    reduction_percentage,
)

# Each test counts under its own key prefix in the (process-wide) local-memory cache.
pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]


class FakeStore:
    """Records what the recorder sends; ``fail`` makes the next calls raise.

    Like the real store, it adds a process's numbered batch once (``sequences`` lists every
    ``(sequence, counters)`` received); ``lose_reply`` applies the next call, then raises.
    """

    alias = "fake"

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.minutes: dict[int, Counter[int]] = {}
        self.processes: list[tuple[str, dict[str, int], float]] = []
        self.calls = 0
        self.fail = False
        self.lose_reply = False
        self.sequences: list[tuple[int, dict[str, int]]] = []
        self.last: dict[str, int] = {}

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None = None,
        sequence: tuple[str, int] | None = None,
    ) -> bool:
        self.calls += 1
        if self.fail:
            raise StatsUnavailable("down")
        assert sequence is not None
        self.sequences.append((sequence[1], dict(counters)))
        fresh = sequence[1] > self.last.get(sequence[0], 0)
        if fresh:
            self._add(counters, minutes)
            self.last[sequence[0]] = sequence[1]
        if process is not None:
            self.processes.append((process[0], dict(process[1]), process[2]))
        if self.lose_reply:
            self.lose_reply = False
            raise StatsUnavailable("timed out")
        return fresh

    def _add(self, counters: Mapping[str, int], minutes: Mapping[int, tuple[int, ...]]) -> None:
        self.counters.update(counters)
        for minute, values in minutes.items():
            self.minutes.setdefault(minute, Counter()).update(dict(enumerate(values)))

    def reset(self, minutes: Iterable[int]) -> None:
        self.counters.clear()


def _recorder(store: Any = None) -> StatsRecorder:
    return StatsRecorder(store, autostart=False)


def test_record_message_counts_in_process_only() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_message("message_new", 5432, 2871, False)
    recorder.record_message("message_new", 12543, 3421, True, count=3)
    c = recorder.counters
    assert c["total_messages"] == 4
    assert c["total_bytes_original"] == 5432 + 3 * 12543
    assert c["total_bytes_optimized"] == 2871 + 3 * 3421
    assert c["compressed_messages"] == 3
    assert c["event:message_new"] == 4
    assert store.calls == 0  # nothing left the process


def test_other_counters_keep_their_names() -> None:
    recorder = _recorder(FakeStore())
    recorder.record_batch(5)
    recorder.record_error("too_deep")
    recorder.record_fallback("ValueError")
    recorder.connection_opened(2)
    recorder.connection_opened(1)
    recorder.connection_closed(1)
    recorder.record_wire_bytes(300, 40)
    c = recorder.counters
    assert (c["batches"], c["batched_messages"]) == (1, 5)
    assert c["error:too_deep"] == 1 and c["fallback:ValueError"] == 1
    assert c["active_connections"] == 1
    assert (c["connections:v2"], c["connections:v1"]) == (1, 0)
    assert (c["wire_bytes_sent"], c["wire_bytes_received"]) == (300, 40)
    assert recorder.gauges() == {"v2": 1}


def test_wire_bytes_are_split_by_transport() -> None:
    recorder = _recorder(FakeStore())
    recorder.record_wire_bytes(300, 40, deflate=True)
    recorder.record_wire_bytes(1000, 60, deflate=False)
    recorder.record_wire_bytes(5, 5)  # a server that does not say
    wire = build_stats(Snapshot(counters=dict(recorder.counters)), [])["wire"]
    assert (wire["bytes_sent"], wire["bytes_received"]) == (1305, 105)
    assert wire["by_transport"] == {
        "deflate": {"bytes_sent": 300, "bytes_received": 40},
        "plain": {"bytes_sent": 1000, "bytes_received": 60},
    }


def test_flush_sends_each_count_once() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.clock = lambda: 600.0  # minute 10
    recorder.record_message("a", 10, 5, False)
    assert recorder.flush()
    recorder.record_message("a", 10, 5, False)
    recorder.record_error("malformed_json")
    assert recorder.flush()
    assert recorder.flush()  # nothing new: no call at all
    assert store.calls == 2
    assert store.counters["total_messages"] == 2
    assert store.counters["event_original:a"] == 20
    assert store.counters["error:malformed_json"] == 1
    assert store.minutes[10] == Counter({0: 2, 1: 20, 2: 10})
    assert recorder.pending() == ({}, {})


def test_a_failed_flush_loses_nothing_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.stats")
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_message("a", 10, 5, False)
    store.fail = True
    assert recorder.flush() is False
    recorder.record_message("a", 10, 5, False)
    assert recorder.flush() is False
    assert not recorder.available
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    store.fail = False
    assert recorder.flush() is True
    assert store.counters["total_messages"] == 2
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


def test_a_batch_whose_reply_was_lost_is_sent_again_unchanged_and_counted_once() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_message("a", 10, 5, False, count=3)
    store.lose_reply = True  # the store applies the batch, the recorder never hears back
    assert recorder.flush() is False
    recorder.record_message("b", 10, 5, False, count=2)  # counted while batch 1 is in flight
    assert recorder.flush() is True
    first = {
        "total_messages": 3,
        "total_bytes_original": 30,
        "total_bytes_optimized": 15,
        "event:a": 3,
        "event_original:a": 30,
        "event_optimized:a": 15,
    }
    second = {k.replace(":a", ":b"): v * 2 // 3 for k, v in first.items()}
    # Batch 1 went twice, untouched by the later counts, which went as batch 2.
    assert store.sequences == [(1, first), (1, first), (2, second)]
    assert store.counters["total_messages"] == 5
    assert (store.counters["event:a"], store.counters["event:b"]) == (3, 2)
    assert recorder.pending() == ({}, {})
    assert recorder.flush() and store.sequences[-1][0] == 2  # nothing new: no new batch


def test_reset_drops_a_batch_in_flight() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_message("a", 10, 5, False)
    store.fail = True
    assert recorder.flush() is False
    store.fail = False
    recorder.reset()
    recorder.record_error("too_deep")
    assert recorder.flush()
    assert store.sequences == [(2, {"error:too_deep": 1})]
    assert store.counters == Counter({"error:too_deep": 1})


class FlakyCache:
    """A local-memory cache whose ``fail_at``-th ``incr`` call raises before doing anything."""

    def __init__(self, fail_at: int) -> None:
        self.cache = LocMemCache(f"flaky-{uuid.uuid4().hex}", {})
        self.fail_at = fail_at
        self.incrs = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cache, name)

    def incr(self, key: str, delta: int = 1) -> int:
        self.incrs += 1
        if self.incrs == self.fail_at:
            raise ConnectionError("cache went away")
        return self.cache.incr(key, delta)


def test_generic_store_adds_each_numbered_batch_once() -> None:
    store = StatsStore(prefix="seq", cache=LocMemCache(f"seq-{uuid.uuid4().hex}", {}))
    batch = ({"a": 2, "b": 1}, {10: (1, 50, 20)})
    assert store.apply(*batch, None, ("p", 1)) is True
    assert store.apply(*batch, None, ("p", 1)) is False  # sent again: already in
    assert store.apply({"a": 5}, {}, None, ("p", 2)) is True
    assert store.apply(*batch, None, ("p", 1)) is False  # late: a later batch is in
    assert store.apply({"a": 7}, {}, None, ("q", 1)) is True  # numbers are per process
    # Gauges alone go under the last number: refreshed, nothing added.
    assert store.apply({}, {}, ("p", {"v2": 1}, 60.0), ("p", 2)) is False
    snapshot = store.read([10])
    assert snapshot.counters == {"a": 14, "b": 1}
    assert snapshot.minutes == {10: {"messages": 1, "original": 50, "optimized": 20}}
    assert snapshot.processes == {"p": {"v2": 1}}


@pytest.mark.parametrize("fail_at", [1, 2, 4, 5])
def test_generic_store_resumes_a_batch_that_failed_part_way(fail_at: int) -> None:
    flaky = FlakyCache(fail_at)
    store = StatsStore(prefix="part", cache=flaky)  # type: ignore[arg-type]
    counters, minutes = {"a": 1, "b": 2, "c": 3}, {10: (4, 0, 5)}
    with pytest.raises(StatsUnavailable, match="cache went away"):
        store.apply(counters, minutes, None, ("p", 1))
    assert store.apply(counters, minutes, None, ("p", 1)) is True  # resumes where it stopped
    assert store.apply(counters, minutes, None, ("p", 1)) is False
    snapshot = store.read([10])
    assert snapshot.counters == counters
    assert snapshot.minutes == {10: {"messages": 4, "optimized": 5}}


def test_gauges_are_published_while_connections_are_open() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.min_process_ttl = 7.0
    recorder.connection_opened(2)
    recorder.flush()
    recorder.flush()  # heartbeat, although nothing else changed
    recorder.connection_closed(2)
    recorder.flush()
    recorder.flush()  # nothing open, nothing published: no call
    pid = recorder.process_id
    assert store.processes == [(pid, {"v2": 1}, 7.0), (pid, {"v2": 1}, 7.0), (pid, {}, 7.0)]
    assert store.calls == 3


def test_a_message_logged_while_a_batch_is_taken_goes_in_the_next_batch() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_sent("e", 10, 5)
    take_deltas = recorder._diff

    def deltas_then_log(*args: Any) -> Any:
        deltas = take_deltas(*args)
        recorder.record_sent("e", 10, 5)  # another thread's message, between two reads
        return deltas

    recorder._diff = deltas_then_log  # type: ignore[method-assign]
    recorder.flush()
    recorder._diff = take_deltas  # type: ignore[method-assign]
    recorder.flush()
    assert store.counters["total_messages"] == 2
    assert store.counters["total_bytes_original"] == 20
    assert sum(bucket[0] for bucket in store.minutes.values()) == 2


def test_a_flush_after_stop_does_not_publish_the_withdrawn_gauges() -> None:
    store = FakeStore()
    dropped: list[str] = []
    store.drop_process = dropped.append  # type: ignore[attr-defined]
    recorder = _recorder(store)
    recorder.connection_opened(2)
    recorder.flush()
    recorder.stop()
    assert dropped == [recorder.process_id]
    published = list(store.processes)
    recorder.record_message("a", 10, 5, False)
    recorder.flush()  # counts still go out, the gauges do not come back
    assert store.processes == published
    assert store.counters["total_messages"] == 1


def test_per_minute_buckets_are_dropped_after_an_hour() -> None:
    recorder = _recorder(FakeStore())
    now = [0.0]
    recorder.clock = lambda: now[0]
    recorder.record_message("a", 10, 5, False)
    now[0] = 59.0
    recorder.record_message("a", 10, 5, False)
    now[0] = 60.0
    recorder.record_message("a", 10, 5, False)
    assert recorder.minutes == {0: [2, 20, 10], 1: [1, 10, 5]}
    now[0] = 62 * 60.0
    recorder.record_message("a", 10, 5, False)
    recorder.flush()
    assert sorted(recorder.minutes) == [1, 62]


def test_event_names_are_capped() -> None:
    recorder = _recorder(FakeStore())
    recorder.max_events = 2
    for name in ("a", "b", "c", "d", "a"):
        recorder.record_message(name, 10, 5, False)
    assert recorder.counters["event:a"] == 2
    assert recorder.counters["event:b"] == 1
    assert recorder.counters[f"event:{OTHER_EVENT}"] == 2


def test_stats_disabled_counts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.payload")
    recorder = _recorder(FakeStore())
    with override_settings(REZNET_WS={"STATS_ENABLED": False}):
        recorder.record_message("big", 5000, 1000, False)
        recorder.record_error("too_large")
        recorder.connection_opened(2)
    assert not recorder.counters
    assert "Payload big: 5000B -> 1000B (80.0% reduction)" in caplog.text


# -------------------------------------------------------------- log line


def test_payload_log_line_has_the_original_format(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.payload")
    recorder = _recorder(FakeStore())
    recorder.record_message("message_new", 5432, 2871, False)
    recorder.record_message("workflow_progress", 12543, 3421, True)
    recorder.record_message("small", 1023, 500, False)  # under the 1 KB threshold
    log_payload("grew", 2000, 2100)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("reznet_ws.payload", "INFO", "Payload message_new: 5432B -> 2871B (47.1% reduction)"),
        (
            "reznet_ws.payload",
            "INFO",
            "Payload workflow_progress: 12543B -> 3421B (72.7% reduction)",
        ),
        ("reznet_ws.payload", "INFO", "Payload grew: 2000B -> 2100B (-5.0% reduction)"),
    ]


def test_payload_log_threshold_is_a_setting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.payload")
    with override_settings(REZNET_WS={"LOG_PAYLOAD_THRESHOLD": 100}):
        log_payload("e", 100, 50)
    with override_settings(REZNET_WS={"LOG_PAYLOAD_THRESHOLD": None}):
        log_payload("off", 10**6, 50)
    assert [r.getMessage() for r in caplog.records] == ["Payload e: 100B -> 50B (50.0% reduction)"]


# ------------------------------------------------------ store and report


def test_stats_through_the_local_memory_cache() -> None:
    recorder = _recorder(None)
    recorder.clock = lambda: 600.0  # minute 10: counted and reported in one minute, whenever run
    recorder.record_message("message_new", 5432, 2871, False, count=2)
    recorder.record_message("typing", 100, 40, False)
    recorder.record_batch(3)
    recorder.record_error("malformed_json")
    recorder.record_error("malformed_json")
    recorder.record_error("too_deep")
    recorder.connection_opened(2)
    stats = get_stats(recorder)
    assert stats["total_messages"] == 3
    assert stats["total_bytes_original"] == 2 * 5432 + 100
    assert stats["total_bytes_optimized"] == 2 * 2871 + 40
    assert stats["reduction_percentage"] == reduction_percentage(10964, 5782) == 47.3
    assert stats["avg_message_size"] == round(5782 / 3)
    assert list(stats["events"]) == ["message_new", "typing"]
    assert stats["events"]["typing"] == {
        "messages": 1,
        "bytes_original": 100,
        "bytes_optimized": 40,
        "reduction_percentage": 60.0,
        "compressed_messages": 0,
    }
    assert stats["errors"] == {"malformed_json": 2, "too_deep": 1}
    assert stats["active_connections"] == 1
    assert stats["connections"]["by_version"] == {"v2": 1}
    assert len(stats["series"]) == 60 and stats["series"][-1]["messages"] == 3
    assert stats["series"][-1]["minute"].endswith(":00Z")
    assert stats["since"] is not None


def test_reset_forgets_unflushed_counts_but_not_open_connections() -> None:
    recorder = _recorder(None)
    recorder.connection_opened(1)
    recorder.record_message("a", 10, 5, False)
    assert get_stats(recorder)["total_messages"] == 1
    recorder.record_message("a", 10, 5, False)  # not flushed yet
    recorder.reset()
    stats = get_stats(recorder)
    assert stats["total_messages"] == 0 and stats["events"] == {}
    assert stats["active_connections"] == 1
    recorder.record_message("a", 10, 5, False)
    assert get_stats(recorder)["total_messages"] == 1


def test_generic_cache_repairs_its_index() -> None:
    recorder = _recorder(None)
    recorder.record_message("a", 10, 5, False)
    recorder.flush()
    # Another process overwrote the index (a lost get-then-set race).
    caches["default"].set(f"{recorder.store.prefix}:fields", [], None)
    recorder.record_error("too_deep")
    recorder.flush()
    stats = get_stats(recorder)
    assert stats["total_messages"] == 1 and stats["errors"] == {"too_deep": 1}


def test_store_reports_an_unknown_alias_as_unavailable() -> None:
    with pytest.raises(StatsUnavailable):
        StatsStore(alias="nope").ping()


def test_build_stats_of_an_empty_store() -> None:
    stats = build_stats(Snapshot(), [])
    assert stats["total_messages"] == 0
    assert stats["reduction_percentage"] == 0.0
    assert stats["avg_message_size"] == 0
    assert stats["batches"]["avg_messages_per_batch"] == 0.0
    assert stats["series"] == [] and stats["since"] is None


# ----------------------------------------------------------- the thread


def test_flush_thread_runs_and_stop_flushes_the_rest() -> None:
    store = FakeStore()
    recorder = StatsRecorder(store)  # autostart
    with override_settings(REZNET_WS={"STATS_FLUSH_INTERVAL": 0.01}):
        recorder.record_message("a", 10, 5, False)
        deadline = time.monotonic() + 10
        while store.counters["total_messages"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.counters["total_messages"] == 1
    with override_settings(REZNET_WS={"STATS_FLUSH_INTERVAL": 3600}):
        recorder.stop()  # wake the thread up so the long interval applies after
        recorder.record_message("a", 10, 5, False)  # restarts the thread
        recorder.stop()
    assert store.counters["total_messages"] == 2
    assert recorder.pending() == ({}, {})


def test_get_recorder_is_process_wide() -> None:
    assert get_recorder() is get_recorder()


def test_an_event_name_with_a_lone_surrogate_does_not_stop_the_flushes() -> None:
    store = FakeStore()
    recorder = _recorder(store)
    recorder.record_message("odd\ud800", 10, 5, False)
    recorder.record_delta("odd\ud800", 1, 0, 4)
    recorder.record_message("fine", 10, 5, False)
    c = recorder.counters
    assert c["event:odd\\ud800"] == 1 and c["event:fine"] == 1
    assert c["delta_frames:odd\\ud800"] == 1
    assert all(key.encode("utf-8") for key in c)  # every key can be stored
