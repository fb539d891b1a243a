"""The DRF endpoints: shapes, the permission matrix, reset, health, the schema, Prometheus."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import AnonymousUser
from django.test import Client, override_settings

from reznet_ws.api.views import RESET_MESSAGE
from reznet_ws.checks.stats import check_stats_prometheus
from reznet_ws.stats import StatsRecorder, get_stats_payload

from .conftest import client_for, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]

ORIGINAL_FIELDS = [
    "total_messages",
    "total_bytes_original",
    "total_bytes_optimized",
    "reduction_percentage",
    "compressed_messages",
    "avg_message_size",
    "active_connections",
]


@pytest.fixture
def recorder_config() -> dict[str, object]:
    return {"STATS_PROMETHEUS": True}


def _record(recorder: StatsRecorder) -> None:
    recorder.record_message("message_new", 5432, 2871, False, count=2)
    recorder.record_message("workflow_progress", 12543, 3421, True)
    recorder.record_error("malformed_json")
    recorder.record_batch(2)
    recorder.connection_opened(2)


MATRIX = [
    # method, path, anonymous, authenticated non-staff, staff
    ("get", "/api/websocket/stats", 403, 403, 200),
    ("post", "/api/websocket/stats/reset", 403, 403, 200),
    ("get", "/api/websocket/metrics", 403, 403, 200),
    ("get", "/api/websocket/health", 200, 200, 200),
    ("get", "/api/websocket/schema", 200, 200, 200),
]


@pytest.mark.parametrize(("method", "path", "anonymous", "user", "staff"), MATRIX)
def test_permission_matrix(
    users: dict[str, Any], method: str, path: str, anonymous: int, user: int, staff: int
) -> None:
    for who, expected in (("anonymous", anonymous), ("user", user), ("staff", staff)):
        response = getattr(client_for(users[who]), method)(path)
        assert response.status_code == expected, (who, path, response.content[:200])


def test_permissions_are_read_at_request_time(users: dict[str, Any]) -> None:
    anonymous = Client()
    assert anonymous.get("/api/websocket/stats").status_code == 403
    public = {"STATS_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    with override_settings(REZNET_WS=public):
        assert anonymous.get("/api/websocket/stats").status_code == 200
        assert get_stats_payload(AnonymousUser()) is not None
    signed_in = {"STATS_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    with override_settings(REZNET_WS=signed_in):
        assert client_for(users["user"]).get("/api/websocket/stats").status_code == 200
        assert anonymous.get("/api/websocket/stats").status_code == 403


def test_stats_have_the_original_fields_and_breakdowns(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    _record(recorder)
    body = client_for(users["staff"]).get("/api/websocket/stats").json()
    assert list(body)[:7] == ORIGINAL_FIELDS
    assert body["total_messages"] == 3
    assert body["total_bytes_original"] == 2 * 5432 + 12543
    assert body["total_bytes_optimized"] == 2 * 2871 + 3421
    assert body["reduction_percentage"] == 60.9
    assert body["compressed_messages"] == 1
    assert body["avg_message_size"] == round((2 * 2871 + 3421) / 3)
    assert body["active_connections"] == 1
    assert body["events"]["message_new"]["messages"] == 2
    assert body["errors"] == {"malformed_json": 1}
    assert body["batches"] == {"count": 1, "messages": 2, "avg_messages_per_batch": 2.0}
    assert body["connections"]["by_version"] == {"v2": 1}
    assert len(body["series"]) == 60


def test_reset(users: dict[str, Any], recorder: StatsRecorder) -> None:
    _record(recorder)
    staff = client_for(users["staff"])
    response = staff.post("/api/websocket/stats/reset")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == RESET_MESSAGE == "WebSocket statistics reset successfully"
    assert body["stats"]["total_messages"] == 0
    assert body["stats"]["events"] == {} and body["stats"]["errors"] == {}
    assert body["stats"]["active_connections"] == 1  # live connections are not history
    assert staff.get("/api/websocket/stats").json()["total_messages"] == 0
    assert staff.get("/api/websocket/stats/reset").status_code == 405


def test_reset_needs_the_csrf_token_with_session_auth(users: dict[str, Any]) -> None:
    client = client_for(users["staff"], enforce_csrf_checks=True)
    assert client.post("/api/websocket/stats/reset").status_code == 403
    client.get("/admin/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/websocket/stats/reset", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_stats_are_503_when_the_cache_is_down(users: dict[str, Any]) -> None:
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
    }
    staff = client_for(users["staff"])  # logs in through the (local) session store first
    with override_settings(CACHES={"default": dead}):
        response = staff.get("/api/websocket/stats")
    assert response.status_code == 503
    assert response.json() == {"detail": "The stats cache is unavailable."}


def test_openapi_schema_describes_the_endpoints() -> None:
    response = Client().get("/api/websocket/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/websocket/stats",
        "/api/websocket/stats/reset",
        "/api/websocket/health",
        "/api/websocket/metrics",
    }
    stats = schema["components"]["schemas"]["Stats"]
    assert set(ORIGINAL_FIELDS) <= set(stats["properties"])
    assert "post" in schema["paths"]["/api/websocket/stats/reset"]
    as_json = Client().get("/api/websocket/schema?format=json")
    assert as_json.json()["paths"].keys() == schema["paths"].keys()


def test_openapi_schema_is_valid_and_generated_without_warnings() -> None:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = Client().get("/api/websocket/schema?format=json").json()
    validate_schema(schema)  # against the OpenAPI 3.0 JSON schema
    assert not GENERATOR_STATS  # drf-spectacular found nothing to warn or err about


def test_prometheus_text(users: dict[str, Any], recorder: StatsRecorder) -> None:
    _record(recorder)
    recorder.record_wire_bytes(700, 20, deflate=True)
    response = client_for(users["staff"]).get("/api/websocket/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'reznet_ws_wire_transport_bytes_sent_total{transport="deflate"} 700.0' in text
    assert "reznet_ws_stream_frames_total 0.0" in text
    assert "reznet_ws_messages_total 3.0" in text
    assert 'reznet_ws_event_messages_total{event="message_new"} 2.0' in text
    assert 'reznet_ws_errors_total{code="malformed_json"} 1.0' in text
    assert 'reznet_ws_active_connections{version="v2"} 1.0' in text
    assert "reznet_ws_stats_cache_up 1.0" in text


def test_prometheus_is_off_unless_enabled(users: dict[str, Any]) -> None:
    with override_settings(REZNET_WS={"STATS_PROMETHEUS": False}):
        assert client_for(users["staff"]).get("/api/websocket/metrics").status_code == 404


def test_prometheus_without_the_library(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails
    response = client_for(users["staff"]).get("/api/websocket/metrics")
    assert response.status_code == 501
    assert "pip install 'reznet-ws[prometheus]'" in response.json()["detail"]
    [error] = check_stats_prometheus()
    assert error.id == "reznet_ws.E022" and "reznet-ws[prometheus]" in (error.hint or "")


def test_get_stats_payload_for_the_websocket(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    _record(recorder)
    payload = get_stats_payload(users["staff"])
    assert payload is not None and payload["total_messages"] == 3
    assert get_stats_payload(users["user"]) is None
    assert get_stats_payload(AnonymousUser()) is None
    assert get_stats_payload(None) is None
