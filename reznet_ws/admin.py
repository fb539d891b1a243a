"""The "WebSocket metrics" page in the Django admin.

There is no model to register, so :func:`install` adds the page to an ``AdminSite`` instance: its
URLs go in front of the site's own and an entry goes into its app list (the index and the nav
sidebar). This module installs it on the default ``admin.site`` when the admin autodiscovers it;
call ``install(my_site)`` for a custom site.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .api.permissions import user_has_stats_permission
from .stats import StatsUnavailable, get_stats, reset_stats

__all__ = ["MetricsAdmin", "build_chart", "install"]

APP_LABEL = "reznet_ws"


def _nice_ceiling(value: float) -> float:
    """Round ``value`` up to an axis maximum whose quarters read well in KB/MB (1024-based)."""
    if value <= 0:
        return 1.0
    unit = 1024 ** min(4, int(math.log(value, 1024)))
    scaled = value / unit
    power = 10 ** math.floor(math.log10(scaled))
    return next(m * power for m in (1, 2, 4, 6, 8, 10) if m * power >= scaled) * unit


def build_chart(
    series: Sequence[dict[str, Any]], width: int = 720, height: int = 220, ticks: int = 4
) -> dict[str, Any]:
    """Return the geometry of the bytes-per-minute chart (polyline points, axis ticks).

    ``series`` is the ``series`` list of the stats; the template draws it as inline SVG.
    """
    left, right, top, bottom = 64, 8, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((max(p["bytes_original"], p["bytes_optimized"]) for p in series), default=0)
    ceiling = _nice_ceiling(peak)
    step = plot_w / max(len(series) - 1, 1)

    def points(key: str) -> str:
        return " ".join(
            f"{left + i * step:.1f},{top + (1 - p[key] / ceiling) * plot_h:.1f}"
            for i, p in enumerate(series)
        )

    y_ticks = [
        {
            "y": round(top + (1 - k / ticks) * plot_h, 1),
            "label": filesizeformat(ceiling * k / ticks),
        }
        for k in range(ticks + 1)
    ]
    x_ticks = (
        [
            {"x": round(left + i * step, 1), "y": height - 4, "label": series[i]["minute"][11:16]}
            for i in range(0, len(series), 15)
        ]
        if series
        else []
    )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "original": points("bytes_original"),
        "optimized": points("bytes_optimized"),
        "y_ticks": y_ticks,
        "x_ticks": x_ticks,
        "empty": peak == 0,
    }


class MetricsAdmin:
    """The metrics page of one admin site: its views, URLs and app-list entry."""

    template_name = "admin/reznet_ws/metrics.html"
    panel_template_name = "admin/reznet_ws/metrics_panel.html"
    #: Seconds between two refreshes of the figures in the browser.
    refresh_seconds = 5

    def __init__(self, site: AdminSite) -> None:
        self.site = site

    def get_urls(self) -> list[URLPattern]:
        """Return the page's URLs, each wrapped in ``site.admin_view`` (staff only, CSRF)."""
        wrap = self.site.admin_view
        return [
            path("reznet_ws/metrics/", wrap(self.page_view), name="reznet_ws_metrics"),
            path("reznet_ws/metrics/panel/", wrap(self.panel_view), name="reznet_ws_metrics_panel"),
            path("reznet_ws/metrics/reset/", wrap(self.reset_view), name="reznet_ws_metrics_reset"),
        ]

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff (checked by ``admin_view``) who also pass ``STATS_PERMISSION_CLASSES``."""
        return user_has_stats_permission(request.user)

    def url(self) -> str:
        """Return the page's URL on this site."""
        return reverse(f"{self.site.name}:reznet_ws_metrics", current_app=self.site.name)

    def add_to_app_list(
        self, request: HttpRequest, app_list: list[dict[str, Any]], app_label: str | None
    ) -> list[dict[str, Any]]:
        """Add the page to ``app_list`` (the admin index and the nav sidebar)."""
        if app_label not in (None, APP_LABEL) or not self.has_permission(request):
            return app_list
        url = self.url()
        entry = {
            "name": "WebSocket metrics",
            "object_name": "WebSocketMetrics",
            "admin_url": url,
            "add_url": None,
            "view_only": True,
            "perms": {"add": False, "change": False, "delete": False, "view": True},
        }
        for app in app_list:
            if app["app_label"] == APP_LABEL:
                app["models"].append(entry)
                return app_list
        from django.apps import apps

        app_list.append(
            {
                "name": apps.get_app_config(APP_LABEL).verbose_name,
                "app_label": APP_LABEL,
                "app_url": url,
                "has_module_perms": True,
                "models": [entry],
            }
        )
        app_list.sort(key=lambda app: str(app["name"]).lower())
        return app_list

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        """Return the figures the page and its panel show (``stats`` is None when unreachable)."""
        try:
            stats: dict[str, Any] | None = get_stats()
        except StatsUnavailable:
            stats = None
        return {
            "stats": stats,
            "chart": build_chart(stats["series"]) if stats else None,
            "refresh_seconds": self.refresh_seconds,
        }

    def _check(self, request: HttpRequest) -> None:
        if not self.has_permission(request):
            raise PermissionDenied

    def page_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        context = {
            **self.site.each_context(request),
            **self.get_context(request),
            "title": "WebSocket metrics",
            "panel_template": self.panel_template_name,
        }
        request.current_app = self.site.name
        return TemplateResponse(request, self.template_name, context)

    def panel_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        return TemplateResponse(request, self.panel_template_name, self.get_context(request))

    def reset_view(self, request: HttpRequest) -> HttpResponse:
        """POST only (the page's form, with its CSRF token); redirects back to the page."""
        self._check(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            reset_stats()
        except StatsUnavailable:
            messages.error(request, "The stats cache is unavailable: nothing was reset.")
        else:
            messages.success(request, "WebSocket statistics reset successfully")
        return HttpResponseRedirect(self.url())


def install(site: AdminSite | None = None) -> MetricsAdmin:
    """Add the metrics page to ``site`` (default: ``admin.site``); idempotent."""
    site = site if site is not None else admin.site
    existing: MetricsAdmin | None = getattr(site, "reznet_ws_metrics", None)
    if existing is not None:
        return existing
    metrics = MetricsAdmin(site)
    get_urls: Callable[[], list[Any]] = site.get_urls
    get_app_list = site.get_app_list

    def get_urls_with_metrics() -> list[Any]:
        return [*metrics.get_urls(), *get_urls()]

    def get_app_list_with_metrics(
        request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        return metrics.add_to_app_list(request, get_app_list(request, app_label), app_label)

    site.get_urls = get_urls_with_metrics  # type: ignore[method-assign]
    site.get_app_list = get_app_list_with_metrics  # type: ignore[method-assign]
    site.reznet_ws_metrics = metrics  # type: ignore[attr-defined]
    return metrics


install()
