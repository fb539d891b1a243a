"""The per-message path measures instead of writing: each measure equals what it stands for.

``EncodedEvent`` reports the v1 frame's size (the stats' original bytes) from the v2 walk,
without writing the v1 text, and the v2 frame's UTF-8 size without encoding it again when it is
ASCII; the recorder adds message counts to its named counters when they are read. These
properties compare each with the slow, obvious computation, for both JSON backends.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.fastjson import ascii_json_length, orjson
from reznet_ws.codec.jsonvalues import django_default
from reznet_ws.consumers.mixin import OptimizedConsumerMixin
from reznet_ws.encoding import EncodedEvent
from reznet_ws.stats import StatsRecorder
from tests.conftest import require_or_skip
from tests.test_codec_properties import JSON, TEXT, examples

BACKENDS = ["stdlib", "orjson"]
EVENTS = st.one_of(st.sampled_from(["message_new", "book", "é", "\U0001f600"]), TEXT)


def codec_for_backend(backend: str, **kwargs: Any) -> Codec:
    if backend == "orjson":
        require_or_skip(orjson is not None, "orjson (pip install 'reznet-ws[fast]')")
    return Codec(json_backend=backend, max_depth=10_000, **kwargs)


def utf8_size(payload: str | bytes) -> int:
    return len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))


@pytest.mark.parametrize("backend", BACKENDS)
@examples(300)
@given(event=EVENTS, data=JSON, allow_gzip=st.booleans(), threshold=st.sampled_from([0, 64, 10240]))
def test_measured_sizes_equal_the_written_ones(
    backend: str, event: str, data: object, allow_gzip: bool, threshold: int
) -> None:
    codec = codec_for_backend(backend, gzip_threshold=threshold)
    encoded = EncodedEvent(event, data)
    if encoded.v2_data_text(codec) is None:
        return
    payload, compressed, size = encoded.v2_frame(codec, allow_gzip)
    assert size == utf8_size(payload)
    assert (payload, compressed) == codec.finalize(
        codec.event_frame(event, encoded.v2_data_text(codec)),  # type: ignore[arg-type]
        allow_gzip=allow_gzip,
    )
    v1 = json.dumps({"event": event, "data": data}, default=django_default)
    assert encoded.v1_size(codec) == len(v1)
    assert encoded.v1_text(codec) == v1
    frame = codec.event_frame(event, encoded.v2_data_text(codec))  # type: ignore[arg-type]
    assert codec.encode_event_measured(event, data) == (frame, len(v1), utf8_size(frame))


RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "(send_json)"]),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.booleans(),
        st.integers(1, 5),
        st.booleans(),  # read the counters after this record
    ),
    max_size=40,
)


@examples(200)
@given(records=RECORDS, max_events=st.integers(1, 5))
def test_folded_message_counts_equal_counting_each_message(
    records: list[tuple[str, int, int, bool, int, bool]], max_events: int
) -> None:
    recorder = StatsRecorder(autostart=False)
    recorder.max_events = max_events
    recorder.clock = lambda: 600.0
    expected: Counter[str] = Counter()
    names: list[str] = []
    for event, original, optimized, compressed, count, read in records:
        recorder.record_message(event, original, optimized, compressed, count, log=False)
        if event not in names and len(names) < max_events:
            names.append(event)
        name = event if event in names else "(other)"
        expected["total_messages"] += count
        expected["total_bytes_original"] += original * count
        expected["total_bytes_optimized"] += optimized * count
        expected[f"event:{name}"] += count
        expected[f"event_original:{name}"] += original * count
        expected[f"event_optimized:{name}"] += optimized * count
        if compressed:
            expected["compressed_messages"] += count
            expected[f"event_compressed:{name}"] += count
        if read:
            assert +recorder.counters == +expected
    assert +recorder.counters == +expected
    minute = recorder.minutes.get(10, [0, 0, 0])
    assert minute == [
        expected["total_messages"],
        expected["total_bytes_original"],
        expected["total_bytes_optimized"],
    ]


@examples(200)
@given(records=RECORDS, max_events=st.integers(1, 5), logged=st.lists(st.booleans(), max_size=40))
def test_logged_messages_count_as_recorded_ones(
    records: list[tuple[str, int, int, bool, int, bool]], max_events: int, logged: list[bool]
) -> None:
    recorded, mixed = StatsRecorder(autostart=False), StatsRecorder(autostart=False)
    for recorder in (recorded, mixed):
        recorder.max_events = max_events
        recorder.clock = lambda: 600.0
    for index, (event, original, optimized, compressed, count, read) in enumerate(records):
        recorded.record_message(event, original, optimized, compressed, count, log=False)
        if not compressed and index < len(logged) and logged[index]:
            for _ in range(count):
                mixed.record_sent(event, original, optimized)
        else:
            mixed.record_message(event, original, optimized, compressed, count, log=False)
        if read:
            assert +mixed.counters == +recorded.counters
    assert +mixed.counters == +recorded.counters
    assert mixed.minutes == recorded.minutes


def test_messages_logged_from_many_threads_while_read_are_all_counted() -> None:
    recorder = StatsRecorder(autostart=False)
    start = threading.Barrier(5)

    def send(name: str) -> None:
        start.wait()
        for _ in range(5000):
            recorder.record_sent(name, 3, 2)

    threads = [threading.Thread(target=send, args=(f"e{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    while any(thread.is_alive() for thread in threads):
        assert recorder.counters["total_messages"] <= 20_000  # folds the log meanwhile
    for thread in threads:
        thread.join()
    counters = recorder.counters
    assert counters["total_messages"] == 20_000
    assert counters["total_bytes_original"] == 60_000
    assert [counters[f"event:e{n}"] for n in range(4)] == [5000] * 4
    assert sum(bucket[0] for bucket in recorder.minutes.values()) == 20_000


@examples(300)
@given(text=st.text(st.characters(exclude_categories=())))
def test_ascii_json_length_from_the_utf8_bytes_is_json_dumps_length(text: str) -> None:
    compact = json.dumps(text, ensure_ascii=False)
    expected = len(json.dumps(text))
    assert ascii_json_length(compact) == expected
    assert ascii_json_length(compact, compact.encode("utf-8", "surrogatepass")) == expected
    if orjson is not None and not any("\ud800" <= char <= "\udfff" for char in text):
        data = orjson.dumps(text)
        assert ascii_json_length(data.decode("utf-8"), data) == expected


async def _sent_by(path: str, codec: Codec, event: str, data: Any) -> tuple[list[Any], Counter]:
    """What a connection sends and counts for one event: through the consumer's ``send_event``
    (the lean path where it applies) or straight down the general path."""
    from reznet_ws.delivery.connection import Connection
    from reznet_ws.stats import get_recorder

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    connection = Connection(send)
    await connection.opened(2, codec, False)
    recorder = get_recorder()
    before = Counter(recorder.counters)
    if path == "lean":  # the consumer's own send_event, on this connection
        consumer = SimpleNamespace(_connection=connection)
        await OptimizedConsumerMixin.send_event(consumer, event, data)  # type: ignore[arg-type]
    else:
        await connection.send_event(EncodedEvent(event, data))
    after = Counter(recorder.counters)
    connection.closed()
    return sent, Counter({k: after[k] - before[k] for k in after if after[k] != before[k]})


@pytest.mark.parametrize("backend", BACKENDS)
@examples(200)
@given(event=EVENTS, data=JSON, threshold=st.sampled_from([64, 10240]))
async def test_the_lean_send_path_sends_and_counts_what_the_general_one_does(
    backend: str, event: str, data: Any, threshold: int
) -> None:
    codec = codec_for_backend(backend, gzip_threshold=threshold)
    lean = await _sent_by("lean", codec, event, data)
    assert lean == await _sent_by("general", codec, event, data)


NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-5, -1e-5, 1e-7, 5e-324, 0.0, -0.0, 1e-4, 1e16, 0.00012]),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
)


@pytest.mark.parametrize("backend", BACKENDS)
@examples(300)
@given(
    numbers=st.lists(NUMBERS, min_size=1, max_size=12),
    rows=st.lists(st.lists(NUMBERS, min_size=2, max_size=2), max_size=6),
)
def test_lists_of_numbers_are_measured_exactly(
    backend: str, numbers: list[object], rows: list[list[object]]
) -> None:
    """The walk checks lists of numbers for floats below 1e-4 in C when they are all larger: the
    v1 size is exact for every mix of signs, zeros and tiny values, in lists and rows."""
    codec = codec_for_backend(backend)
    for data in (numbers, {"b": rows, "a": numbers}, [numbers, [None, *numbers]]):
        assert codec.encode_data_sized(data)[1] == len(json.dumps(data))


async def test_the_lean_path_serves_a_connection_again_once_its_batch_is_sent() -> None:
    from reznet_ws.delivery.connection import Connection

    async def send(message: Any) -> None:
        pass

    connection = Connection(send)
    await connection.opened(2, Codec(), False)
    await connection.send_event(EncodedEvent("typing", {"n": 1}), batch=True)
    assert connection.lean_frame("message_new", {"n": 2}) is None  # behind a waiting batch
    await connection.flush_batch()
    assert connection.lean_frame("message_new", {"n": 2}) is not None
    connection.closed()
