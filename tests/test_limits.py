"""Limits on incoming events: events per batch frame, a per-connection rate, missing events.

The token bucket is driven by a fake clock (the ``rate_limit_clock`` seam), never by sleeping;
the real-server test uses a rate so low that no token comes back while it runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from websockets.typing import Subprotocol

from reznet_ws.checks import check_settings
from reznet_ws.codec import SUBPROTOCOL, Codec, ProtocolError
from reznet_ws.consumers import CLOSE_TOO_MANY_ERRORS, OptimizedConsumerMixin
from reznet_ws.encoding import default_field_map
from reznet_ws.limits import IncomingLimits, TokenBucket
from reznet_ws.stats import get_recorder

from .conftest import CLIENT_TIMEOUT, ServerProcess, free_port, ws_connect

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------- the pure core


def test_the_limits_module_imports_no_django() -> None:
    code = "import sys, reznet_ws.limits; print(sorted(m for m in sys.modules if 'django' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_bucket_starts_full_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 5, clock)
    assert bucket.take(3) == 3
    assert bucket.take(3) == 2  # only what is left
    assert bucket.take() == 0
    clock.now += 1.0
    assert bucket.take(5) == 2
    clock.now += 100.0
    assert bucket.take(10) == 5  # never more than the burst


def test_bucket_ignores_a_clock_that_steps_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock)
    assert bucket.take() == 1
    clock.now -= 50
    assert bucket.take() == 0
    clock.now += 50  # back where it was: still no time has passed
    assert bucket.take() == 0
    clock.now += 1
    assert bucket.take() == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=500),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=10), st.integers(min_value=0, max_value=300)),
        max_size=50,
    ),
)
def test_bucket_never_grants_more_than_burst_plus_rate_times_time(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock)
    granted = 0
    for dt, n in steps:
        clock.now += dt
        got = bucket.take(n)
        assert 0 <= got <= n
        assert 0 <= bucket.tokens <= burst
        granted += got
    assert granted <= burst + rate * (clock.now - 1000.0) + 1e-6


@given(
    burst=st.integers(min_value=1, max_value=200),
    frames=st.lists(st.integers(min_value=1, max_value=50), max_size=30),
)
def test_without_time_a_connection_gets_exactly_its_burst(burst: int, frames: list[int]) -> None:
    limits = IncomingLimits(50, 1.0, burst, FakeClock())
    assert sum(limits.admit(n) for n in frames) == min(burst, sum(frames))


def test_a_batch_over_the_limit_takes_no_token() -> None:
    limits = IncomingLimits(3, 1.0, 3, FakeClock())
    with pytest.raises(ProtocolError) as caught:
        limits.admit(4)
    assert caught.value.code == "batch_too_large"
    assert limits.admit(3) == 3


def test_no_rate_means_no_rate_limit() -> None:
    limits = IncomingLimits(100, None, 1)
    assert limits.bucket is None
    assert sum(limits.admit(100) for _ in range(1000)) == 100_000


# ----------------------------------------------------------------------- the consumer

CLOCK = FakeClock()


class LimitedConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    rate_limit_clock = CLOCK
    received: list[tuple[str, Any]] = []

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "relay":  # what a subclass calling receive_json itself may pass
            await self.receive_json(data)
            return
        type(self).received.append((event, data))
        await self.send_event("echo", data)


async def connect(v2: bool = True) -> WebsocketCommunicator:
    LimitedConsumer.received = []
    comm = WebsocketCommunicator(
        LimitedConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect()
    assert connected
    if v2:
        assert json.loads(await comm.receive_from())["e"] == "connection_established"
    return comm


def batch(*orders: int) -> str:
    return json.dumps({"_v": 2, "b": [["note", {"order": i}] for i in orders]})


async def error_code(comm: WebsocketCommunicator) -> dict[str, Any]:
    frame = json.loads(await comm.receive_from())
    assert frame["e"] == "error" and frame["r"] == 1
    return frame["d"]


async def echoes(comm: WebsocketCommunicator, n: int) -> list[Any]:
    codec = Codec(default_field_map())
    events = [e for _ in range(n) for e in codec.decode_frame(await comm.receive_from())]
    assert all(event == "echo" for event, _ in events)
    return [data for _, data in events]


def counter(code: str) -> int:
    return get_recorder().counters[f"error:{code}"]


@override_settings(REZNET_WS={"MAX_BATCH_EVENTS": 3})
async def test_a_batch_over_max_batch_events_is_refused_whole() -> None:
    comm = await connect()
    before = counter("batch_too_large")
    await comm.send_to(text_data=batch(1, 2, 3, 4))
    error = await error_code(comm)
    assert error["code"] == "batch_too_large" and "more than 3" in error["detail"]
    assert counter("batch_too_large") == before + 1
    assert LimitedConsumer.received == []
    await comm.send_to(text_data=batch(1, 2, 3))  # at the limit: accepted
    assert await echoes(comm, 3) == [{"order": 1}, {"order": 2}, {"order": 3}]
    await comm.disconnect()


@override_settings(REZNET_WS={"INCOMING_RATE": 2, "INCOMING_BURST": 3, "MAX_BATCH_EVENTS": 10})
async def test_events_over_the_rate_are_dropped_and_counted() -> None:
    comm = await connect()
    before = counter("rate_limited")
    await comm.send_to(text_data=batch(0, 1, 2, 3, 4))
    assert await echoes(comm, 3) == [{"order": 0}, {"order": 1}, {"order": 2}]
    error = await error_code(comm)
    assert error["code"] == "rate_limited" and error["detail"].startswith("2 of 5 events")
    assert counter("rate_limited") == before + 2  # one count per dropped event
    await comm.send_json_to({"event": "note", "data": {"order": 5}})  # plain messages count too
    assert (await error_code(comm))["code"] == "rate_limited"
    CLOCK.now += 1.0  # two tokens come back
    await comm.send_to(text_data=batch(6, 7, 8))
    assert await echoes(comm, 2) == [{"order": 6}, {"order": 7}]
    assert (await error_code(comm))["detail"].startswith("1 of 3 events")
    assert [data["order"] for _, data in LimitedConsumer.received] == [0, 1, 2, 6, 7]
    assert counter("rate_limited") == before + 4
    await comm.disconnect()


@override_settings(REZNET_WS={"INCOMING_RATE": 1, "INCOMING_BURST": 1, "MAX_PROTOCOL_ERRORS": 3})
async def test_persistent_flooding_closes_with_4008() -> None:
    comm = await connect(v2=False)
    await comm.send_json_to({"event": "note", "data": 1})
    assert json.loads(await comm.receive_from()) == {"event": "echo", "data": 1}
    for _ in range(3):
        await comm.send_json_to({"event": "note", "data": 2})
        frame = json.loads(await comm.receive_from())
        assert frame["event"] == "error" and frame["data"]["code"] == "rate_limited"
    closed = await comm.receive_output()  # the conftest's patient default
    assert closed == {"type": "websocket.close", "code": CLOSE_TOO_MANY_ERRORS}
    assert [data for _, data in LimitedConsumer.received] == [1]


@override_settings(REZNET_WS={"INCOMING_RATE": None})
async def test_incoming_rate_none_turns_the_limit_off() -> None:
    comm = await connect()
    for i in range(4):  # 400 events at one instant: twice the default burst
        await comm.send_to(text_data=batch(*range(100 * i, 100 * i + 100)))
        assert len(await echoes(comm, 100)) == 100
    assert len(LimitedConsumer.received) == 400
    await comm.disconnect()


@pytest.mark.parametrize("v2", [True, False])
async def test_a_message_without_a_string_event_is_answered(v2: bool) -> None:
    comm = await connect(v2)
    before = counter("missing_event")
    for message in ({"data": 1}, {"event": 5, "data": 1}, {"event": None}, {"e": "x", "d": 1}):
        await comm.send_json_to(message)
        frame = json.loads(await comm.receive_from())
        error = frame["d"] if v2 else frame["data"]
        assert error["code"] == "missing_event" and error["detail"]
    assert counter("missing_event") == before + 4
    assert LimitedConsumer.received == []
    await comm.disconnect()


async def test_receive_json_with_a_non_object_is_answered() -> None:
    comm = await connect()
    await comm.send_json_to({"event": "relay", "data": [1, 2]})
    assert (await error_code(comm))["code"] == "not_an_object"
    await comm.disconnect()


# ------------------------------------------------------------------------ settings / docs


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"MAX_BATCH_EVENTS": 0}, ["reznet_ws.E002"]),
        ({"INCOMING_BURST": "200"}, ["reznet_ws.E002"]),
        ({"INCOMING_RATE": 0}, ["reznet_ws.E002"]),
        ({"INCOMING_RATE": True}, ["reznet_ws.E002"]),
        ({"INCOMING_RATE": "fast"}, ["reznet_ws.E002"]),
        ({"INCOMING_BURST": 10, "MAX_BATCH_EVENTS": 50}, ["reznet_ws.W004"]),
        ({"INCOMING_BURST": 10, "MAX_BATCH_EVENTS": 50, "INCOMING_RATE": None}, []),
        ({"INCOMING_RATE": None}, []),
        ({"INCOMING_RATE": 0.5, "INCOMING_BURST": 1, "MAX_BATCH_EVENTS": 1}, []),
    ],
)
def test_limit_settings_are_checked(settings: dict[str, Any], expected: list[str]) -> None:
    with override_settings(REZNET_WS=settings):
        messages = check_settings()
    assert [m.id for m in messages] == expected
    assert all(m.hint for m in messages)


def test_every_bad_input_row_names_tests_that_exist() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text.split("### Bad input", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 16
    for row in rows[1:]:  # the header aside
        refs = re.findall(r"`(test_\w+\.py)(?:::(\w+))?`", row.rsplit("|", 2)[-2])
        assert refs, row
        for file, name in refs:
            source = (ROOT / "tests" / file).read_text()
            assert not name or re.search(rf"^(async )?def {name}\(", source, re.M), (file, name)


# ------------------------------------------------------------------------ a real server


@pytest.fixture(scope="module")
def limits_server() -> Any:
    port = free_port()
    server = ServerProcess(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.limits_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.limits_settings"},
    )
    yield server
    server.stop()


async def recv_json(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT))


async def error_counters(url: str) -> dict[str, int]:
    async with ws_connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None) as ws:
        await recv_json(ws)  # connection_established
        await ws.send(json.dumps({"event": "counters"}))
        frame = await recv_json(ws)
        assert frame["e"] == "counters"
        return frame["d"]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_limits_on_a_real_daphne(limits_server: ServerProcess) -> None:
    """MAX_BATCH_EVENTS 5, INCOMING_BURST 5 (no refill while the test runs), 4 errors close."""
    url = f"ws://127.0.0.1:{limits_server.port}/ws/"
    before = await error_counters(url)
    async with ws_connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None) as ws:
        assert (await recv_json(ws))["e"] == "connection_established"
        big = {"_v": 2, "b": [["echo", {"n": i}] for i in range(6)]}
        await ws.send(json.dumps(big))
        assert (await recv_json(ws))["d"]["code"] == "batch_too_large"
        await ws.send(json.dumps({"data": "no event"}))
        assert (await recv_json(ws))["d"]["code"] == "missing_event"
        # The message without an event took a token: four are left.
        await ws.send(json.dumps({"_v": 2, "b": [["echo", {"n": i}] for i in range(3)]}))
        assert [(await recv_json(ws))["d"] for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
        await ws.send(json.dumps({"_v": 2, "b": [["echo", {"n": i}] for i in range(3, 6)]}))
        assert (await recv_json(ws))["d"] == {"n": 3}
        error = await recv_json(ws)
        assert error["d"]["code"] == "rate_limited" and error["d"]["detail"].startswith("2 of 3")
        await ws.send(json.dumps({"event": "echo", "data": {"n": 7}}))
        assert (await recv_json(ws))["d"]["code"] == "rate_limited"  # the 4th error: closed
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_MANY_ERRORS
    after = await error_counters(url)
    for code, added in {"batch_too_large": 1, "missing_event": 1, "rate_limited": 3}.items():
        assert after.get(f"error:{code}", 0) - before.get(f"error:{code}", 0) == added, code
