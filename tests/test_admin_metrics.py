"""The "WebSocket metrics" admin page: index entry, permissions, chart, reset, static files."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.management import call_command
from django.test import override_settings
from rest_framework.permissions import BasePermission

from reznet_ws.admin import MetricsAdmin, build_chart
from reznet_ws.models import Metrics
from reznet_ws.stats import StatsRecorder

from .conftest import client_for, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]

PAGE = "/admin/reznet_ws/metrics/"
PANEL = "/admin/reznet_ws/metrics/panel/"
RESET = "/admin/reznet_ws/metrics/reset/"


class DenyAll(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return False


def _record(recorder: StatsRecorder) -> None:
    recorder.record_message("message_new", 5432, 2871, False, count=4)
    recorder.record_message("workflow_progress", 12543, 3421, True)
    recorder.record_error("too_deep")
    recorder.connection_opened(2)
    recorder.record_wire_bytes(2000, 100, deflate=True)
    recorder.record_wire_bytes(9000, 300, deflate=False)


def test_staff_see_the_page_on_the_admin_index(users: dict[str, Any]) -> None:
    html = client_for(users["staff"]).get("/admin/").content.decode()
    assert "WebSocket metrics" in html
    assert f'href="{PAGE}"' in html


@pytest.mark.parametrize("path", [PAGE, PANEL])
def test_page_permission_matrix(users: dict[str, Any], path: str) -> None:
    for who in ("anonymous", "user"):
        response = client_for(users[who]).get(path)
        assert response.status_code == 302, who
        assert response["Location"].startswith("/admin/login/"), who
    assert client_for(users["staff"]).get(path).status_code == 200


def test_reset_permission_matrix(users: dict[str, Any], recorder: StatsRecorder) -> None:
    _record(recorder)
    for who in ("anonymous", "user"):
        response = client_for(users[who]).post(RESET)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    staff = client_for(users["staff"])
    assert staff.get(PAGE).context["stats"]["total_messages"] == 5  # nothing was reset
    response = staff.post(RESET)
    assert response.status_code == 302 and response["Location"] == PAGE
    assert staff.get(PAGE).context["stats"]["total_messages"] == 0


def test_stats_permission_classes_apply_to_staff_too(users: dict[str, Any]) -> None:
    deny = {"STATS_PERMISSION_CLASSES": [f"{__name__}.DenyAll"]}
    staff = client_for(users["staff"])
    with override_settings(REZNET_WS=deny):
        assert staff.get(PAGE).status_code == 403
        assert staff.post(RESET).status_code == 403
        assert PAGE not in staff.get("/admin/").content.decode()


def test_page_shows_figures_tables_and_the_svg_chart(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    _record(recorder)
    response = client_for(users["staff"]).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'class="series original"' in html
    assert 'class="series optimized"' in html
    assert '<title id="reznet-ws-chart-title">' in html
    assert re.search(
        r'<span class="reznet-ws-value">5</span><span class="reznet-ws-label">'
        r"messages",
        html,
    )
    assert '<th scope="row">message_new</th>' in html
    assert "<code>too_deep</code>" in html
    assert "on the wire with permessage-deflate" in html and "on the wire without it" in html
    assert 'name="csrfmiddlewaretoken"' in html and f'action="{RESET}"' in html
    assert "/static/reznet_ws/admin/metrics.js" in html
    assert "/static/reznet_ws/admin/metrics.css" in html
    assert f'data-panel-url="{PANEL}"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another host


def test_panel_is_the_refreshable_fragment(users: dict[str, Any], recorder: StatsRecorder) -> None:
    _record(recorder)
    html = client_for(users["staff"]).get(PANEL).content.decode()
    assert "<svg" in html and "<html" not in html


def test_reset_with_csrf_and_confirmation_message(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    _record(recorder)
    client = client_for(users["staff"], enforce_csrf_checks=True)
    html = client.get(PAGE).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    assert client.post(RESET).status_code == 403  # no token
    assert client.get(RESET).status_code == 405
    response = client.post(RESET, {"csrfmiddlewaretoken": token.group(1)}, follow=True)
    assert response.status_code == 200
    assert "WebSocket statistics reset successfully" in response.content.decode()
    assert response.context["stats"]["total_messages"] == 0
    assert 'data-confirm="Reset all WebSocket statistics?' in html


def test_page_survives_a_dead_cache(users: dict[str, Any]) -> None:
    staff = client_for(users["staff"])
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
    }
    with override_settings(CACHES={"default": dead}):
        response = staff.get(PAGE)
    assert response.status_code == 200
    assert "The stats cache is unavailable" in response.content.decode()


def test_page_with_debug_false_and_collected_manifest_static(
    users: dict[str, Any], recorder: StatsRecorder, tmp_path: Any
) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
        },
    }
    _record(recorder)
    with override_settings(DEBUG=False, STATIC_ROOT=str(tmp_path), STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
        html = client_for(users["staff"]).get(PAGE).content.decode()
    css = re.search(r'href="/static/(reznet_ws/admin/metrics\.[0-9a-f]{12}\.css)"', html)
    js = re.search(r'src="/static/(reznet_ws/admin/metrics\.[0-9a-f]{12}\.js)"', html)
    assert css is not None and js is not None
    assert (tmp_path / css.group(1)).is_file()
    assert (tmp_path / js.group(1)).is_file()
    assert "<svg" in html


def test_the_page_is_registered_on_the_default_site() -> None:
    assert isinstance(admin.site.get_model_admin(Metrics), MetricsAdmin)


def test_a_custom_site_registers_the_page_like_a_model() -> None:
    site = AdminSite(name="custom")
    site.register(Metrics, MetricsAdmin)
    [metrics_urls] = [p for p in site.get_urls() if str(p.pattern) == "reznet_ws/metrics/"]
    names = [p.name for p in metrics_urls.url_patterns]  # type: ignore[union-attr]
    assert names == [
        "reznet_ws_metrics_changelist",
        "reznet_ws_metrics_panel",
        "reznet_ws_metrics_reset",
    ]


def test_the_model_has_no_table_and_no_permissions() -> None:
    assert Metrics._meta.managed is False
    assert Metrics._meta.default_permissions == ()


def test_chart_geometry() -> None:
    series = [
        {
            "minute": f"2025-10-25T12:{m:02d}:00Z",
            "bytes_original": m * 100,
            "bytes_optimized": m * 50,
        }
        for m in range(60)
    ]
    chart = build_chart(series, width=720, height=220)
    original = [tuple(map(float, p.split(","))) for p in chart["original"].split()]
    assert len(original) == 60
    assert original[0] == (chart["left"], chart["bottom"])  # zero at the bottom left
    assert original[-1][0] == chart["right"]
    assert chart["top"] <= original[-1][1] < chart["bottom"]
    assert [t["label"] for t in chart["x_ticks"]] == ["12:00", "12:15", "12:30", "12:45"]
    assert chart["y_ticks"][0]["label"] == "0\xa0bytes"
    assert not chart["empty"]
    assert build_chart([])["empty"]
