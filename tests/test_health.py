"""``GET /api/websocket/health``: liveness for everybody, details for the stats permission, bounds.

The bound is checked without timings: a cache whose ``get`` blocks on an event (and a real
redis-server frozen with SIGSTOP) must still yield an answer, ``degraded``, while the probe is
still running, i.e. the request gave up on it instead of waiting for it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar, cast

import pytest
import redis
from channels.layers import get_channel_layer
from django.core.cache import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client, override_settings
from rest_framework.test import APIRequestFactory, force_authenticate

from reznet_ws.api.health import PROBE_TIMEOUT, cache_probe, stats_probe
from reznet_ws.api.views import HealthView
from reznet_ws.delivery import process
from reznet_ws.stats import StatsRecorder

from .conftest import client_for, free_port
from .redis_server import RedisServer

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300)]

URL = "/api/websocket/health"
DETAILS = {"status", "active_connections", "features", "performance", "components"}
#: Seconds a probe may take where the test expects an answer: a bound on a hang only.
PATIENT = 60.0


@pytest.fixture(autouse=True)
def _no_probe_left_running(recorder: StatsRecorder) -> Iterator[None]:
    """Every test counts with a fresh recorder, and leaves no health probe running."""
    yield
    assert cache_probe.wait_idle(PATIENT) and stats_probe.wait_idle(PATIENT)


@pytest.fixture(autouse=True)
def patient_probes(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Probes that wait as long as a busy machine needs: the view's half second would report a
    slow (GC pause, starved CPU) but healthy backend as ``timeout``, so ``degraded``. A test of
    the bound itself sets :data:`PROBE_TIMEOUT` back while its backend hangs (the monkeypatch
    returned)."""
    monkeypatch.setattr(HealthView, "probe_timeout", PATIENT)
    return monkeypatch


class HangingCache(LocMemCache):
    """A local-memory cache whose ``get`` blocks until ``release`` is set (a Redis that hangs)."""

    def __init__(self) -> None:
        super().__init__(f"hanging-{uuid.uuid4().hex}", {})
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        self.calls += 1
        self.entered.set()
        self.release.wait(30)  # the test sets it; 30 s only frees the thread if the test failed
        return super().get(key, default, version)


class CountingCache:
    """Wraps a cache and records the name of every method the stats store calls on it."""

    def __init__(self, inner: BaseCache) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


class CountingConnection(redis.Connection):
    """A redis-py connection that records every packet of commands it writes (one round trip)."""

    sent: ClassVar[list[bytes]] = []

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        chunks = [command] if isinstance(command, bytes | str) else list(command)
        packet = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
        type(self).sent.append(packet)
        super().send_packed_command(command, check_health)


def _redis_stats(url: str, **options: Any) -> dict[str, Any]:
    """Settings that keep the stats in Redis at ``url`` (sessions stay in local memory)."""
    return {
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "stats": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": f"reznet-test-{uuid.uuid4().hex[:8]}",
                "OPTIONS": options,
            },
        },
        "REZNET_WS": {"STATS_CACHE_ALIAS": "stats"},
    }


def test_anonymous_and_unprivileged_callers_get_the_status_only(users: dict[str, Any]) -> None:
    for who in ("anonymous", "user"):
        response = client_for(users[who]).get(URL)
        assert response.status_code == 200
        assert response.json() == {"status": "healthy"}, who


def test_staff_get_every_component(users: dict[str, Any], recorder: StatsRecorder) -> None:
    recorder.record_message("message_new", 5432, 2871, False, count=2)
    recorder.connection_opened(2)
    response = client_for(users["staff"]).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAILS
    assert body["status"] == "healthy"
    assert body["active_connections"] == 1
    assert body["performance"] == {"total_messages": 2, "reduction_percentage": 47.1}
    assert body["features"]["payload_optimization"] is True
    assert body["components"] == {"cache": {"status": "up"}, "channel_layer": {"status": "up"}}


def test_details_follow_stats_permission_classes(users: dict[str, Any]) -> None:
    signed_in = {"STATS_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    with override_settings(REZNET_WS=signed_in):
        assert set(client_for(users["user"]).get(URL).json()) == DETAILS
        assert Client().get(URL).json() == {"status": "healthy"}
    public = {"STATS_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    with override_settings(REZNET_WS=public):
        assert set(Client().get(URL).json()) == DETAILS


def test_bad_credentials_still_get_the_liveness_answer() -> None:
    response = Client().get(URL, HTTP_AUTHORIZATION="Basic bm9ib2R5Ondyb25n")  # nobody:wrong
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_a_hanging_cache_is_abandoned_and_reported_degraded(
    users: dict[str, Any],
    recorder: StatsRecorder,
    caplog: pytest.LogCaptureFixture,
    patient_probes: pytest.MonkeyPatch,
) -> None:
    hanging = HangingCache()
    recorder.store.cache = hanging
    patient_probes.setattr(HealthView, "probe_timeout", PROBE_TIMEOUT)  # the bound under test
    try:
        response = Client().get(URL)
        assert response.status_code == 200
        assert response.json() == {"status": "degraded"}
        # The answer came while the probe was still blocked: the request gave up on it.
        assert hanging.entered.is_set() and not hanging.release.is_set()
        assert cache_probe.in_flight

        body = client_for(users["staff"]).get(URL).json()
        assert body["status"] == "degraded"
        assert body["components"]["cache"]["status"] == "timeout"
        assert body["active_connections"] is None and body["performance"] is None
        assert hanging.calls == 1  # the second request joined the stuck probe, started none
    finally:
        hanging.release.set()
    assert cache_probe.wait_idle(PATIENT)
    patient_probes.setattr(HealthView, "probe_timeout", PATIENT)  # a healthy answer again
    assert Client().get(URL).json() == {"status": "healthy"}
    assert hanging.calls == 2
    warnings = [r for r in caplog.records if r.name == "reznet_ws.health"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


@pytest.mark.redis
def test_a_paused_redis_server_is_abandoned_and_reported_degraded(
    redis_server: RedisServer, patient_probes: pytest.MonkeyPatch
) -> None:
    # No socket timeouts in OPTIONS: the bound must hold without them.
    with override_settings(**_redis_stats(redis_server.url)):
        assert Client().get(URL).json() == {"status": "healthy"}
        redis_server.pause()
        patient_probes.setattr(HealthView, "probe_timeout", PROBE_TIMEOUT)  # the bound under test
        try:
            response = Client().get(URL)
            assert response.status_code == 200
            assert response.json() == {"status": "degraded"}
            assert cache_probe.in_flight  # still waiting for the frozen server
        finally:
            redis_server.resume()
        assert cache_probe.wait_idle(PATIENT)
        patient_probes.setattr(HealthView, "probe_timeout", PATIENT)  # a healthy answer again
        assert Client().get(URL).json() == {"status": "healthy"}


def test_an_anonymous_health_check_makes_one_cache_call(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    counting = CountingCache(LocMemCache(f"counting-{uuid.uuid4().hex}", {}))
    recorder.store.cache = cast(BaseCache, counting)
    assert Client().get(URL).json() == {"status": "healthy"}
    assert counting.calls == ["get"]
    counting.calls.clear()
    assert client_for(users["staff"]).get(URL).json()["status"] == "healthy"
    assert len(counting.calls) > 1  # the detailed answer reads the stats too


@pytest.mark.redis
def test_an_anonymous_health_check_makes_one_redis_round_trip(
    redis_server: RedisServer,
) -> None:
    settings = _redis_stats(redis_server.url, connection_class=CountingConnection)
    with override_settings(**settings):
        assert Client().get(URL).json() == {"status": "healthy"}  # opens the connection
        CountingConnection.sent.clear()
        for _ in range(3):
            assert Client().get(URL).json() == {"status": "healthy"}
    assert len(CountingConnection.sent) == 3
    assert all(packet == b"*1\r\n$4\r\nPING\r\n" for packet in CountingConnection.sent)


def _health(problems: dict[str, str], user: Any = None) -> tuple[int, dict[str, Any]]:
    class ReportingHealthView(HealthView):
        def get_layer_problems(self) -> dict[str, str]:
            return problems

    request = APIRequestFactory().get(URL)
    if user is not None:
        force_authenticate(request, user)
    response = ReportingHealthView.as_view()(request)
    return response.status_code, response.data


def test_degraded_when_a_hub_cannot_reach_its_layer(users: dict[str, Any]) -> None:
    problems = {"default": "ConnectionError: Error 111 connecting to 127.0.0.1:6399"}
    assert _health(problems) == (200, {"status": "degraded"})
    code, body = _health(problems, users["staff"])
    assert code == 200 and body["status"] == "degraded"
    assert body["components"]["channel_layer"] == {
        "status": "down",
        "detail": "default: ConnectionError: Error 111 connecting to 127.0.0.1:6399",
    }
    assert body["components"]["cache"] == {"status": "up"}
    assert _health({}) == (200, {"status": "healthy"})


def test_the_default_hook_reads_the_fanout_hubs() -> None:
    layer = get_channel_layer()
    process.note_send_failure(layer, ConnectionError("Redis is gone"))
    try:
        assert Client().get(URL).json() == {"status": "degraded"}
    finally:
        process.note_send_success(layer)
    assert Client().get(URL).json() == {"status": "healthy"}


def test_a_cache_that_refuses_connections_is_degraded_not_503(users: dict[str, Any]) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    staff = client_for(users["staff"])  # logs in through the local session store first
    with override_settings(**_redis_stats(dead)):
        response = Client().get(URL)
        assert response.status_code == 200
        assert response.json() == {"status": "degraded"}
        body = staff.get(URL).json()
    assert body["components"]["cache"]["status"] == "down"
    assert "ConnectionError" in body["components"]["cache"]["detail"]
    assert body["active_connections"] is None and body["performance"] is None


def test_an_unreachable_channel_layer_shows_in_the_detailed_answer(users: dict[str, Any]) -> None:
    broken = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    staff = client_for(users["staff"])
    with override_settings(CHANNEL_LAYERS=broken):
        # The liveness answer makes no channel-layer I/O: it trusts this process's hubs.
        assert Client().get(URL).json() == {"status": "healthy"}
        body = staff.get(URL).json()
    assert body["status"] == "degraded"
    assert body["components"]["channel_layer"]["status"] == "down"


@pytest.mark.redis
def test_the_detailed_answer_probes_a_redis_channel_layer(
    users: dict[str, Any], redis_server: RedisServer
) -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url]},
        }
    }
    staff = client_for(users["staff"])
    with override_settings(CHANNEL_LAYERS=layers):
        for _ in range(2):  # a second request reuses nothing from the first one's event loop
            body = staff.get(URL).json()
            assert body["status"] == "healthy"
            assert body["components"]["channel_layer"] == {"status": "up"}


def test_503_when_the_channel_layer_cannot_be_built(users: dict[str, Any]) -> None:
    staff = client_for(users["staff"])
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "no.such.Layer"}}):
        response = Client().get(URL)
        assert response.status_code == 503
        assert response.json() == {"status": "unhealthy"}
        detailed = staff.get(URL)
    assert detailed.status_code == 503
    assert detailed.json()["components"]["channel_layer"]["status"] == "down"


def test_without_channel_layer_or_stats(users: dict[str, Any]) -> None:
    staff = client_for(users["staff"])
    with override_settings(CHANNEL_LAYERS={}, REZNET_WS={"STATS_ENABLED": False}):
        assert Client().get(URL).json() == {"status": "healthy"}
        body = staff.get(URL).json()
    assert body["status"] == "healthy"
    assert body["components"] == {
        "cache": {"status": "disabled"},
        "channel_layer": {"status": "not_configured"},
    }
