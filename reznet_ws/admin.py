"""The "WebSocket metrics" page in the Django admin.

:class:`MetricsAdmin` is a ``ModelAdmin`` for :class:`reznet_ws.models.Metrics`, a model without a
table, so the page takes the admin's own paths: the URLs under ``reznet_ws/metrics/``, the entry
on the index and in the nav sidebar, the staff-only ``admin_view`` wrapping. The default
``admin.site`` gets it when the admin autodiscovers this module; a custom site registers it the
same way: ``my_site.register(Metrics, MetricsAdmin)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .models import Metrics
from .stats import StatsUnavailable, get_stats, reset_stats
from .stats.access import user_has_stats_permission

__all__ = ["MetricsAdmin", "build_chart"]


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


class MetricsAdmin(admin.ModelAdmin):
    """The metrics page: one read-only view, its refreshable panel and the reset form.

    It replaces the model's changelist; there is nothing to add, change or delete.
    """

    template_name = "admin/reznet_ws/metrics.html"
    panel_template_name = "admin/reznet_ws/metrics_panel.html"
    #: Seconds between two refreshes of the figures in the browser.
    refresh_seconds = 5

    def get_urls(self) -> list[URLPattern]:
        """Return the page's URLs, each wrapped in ``admin_view`` (staff only, CSRF).

        The admin mounts them under ``<app_label>/<model_name>/``: ``reznet_ws/metrics/``.
        """
        wrap = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", wrap(self.page_view), name=f"{info}_changelist"),
            path("panel/", wrap(self.panel_view), name=f"{info}_panel"),
            path("reset/", wrap(self.reset_view), name=f"{info}_reset"),
        ]

    def has_stats_permission(self, request: HttpRequest) -> bool:
        """Staff (checked by ``admin_view``) who also pass ``STATS_PERMISSION_CLASSES``."""
        return user_has_stats_permission(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        """Called for the index and the sidebar: list the app for those who may see the page."""
        return self.has_stats_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Called for the index and the sidebar: link the page for those who may see it."""
        return self.has_stats_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def url(self) -> str:
        """Return the page's URL on this site."""
        name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist"
        return reverse(name, current_app=self.admin_site.name)

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
        if not self.has_stats_permission(request):
            raise PermissionDenied

    def page_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        context = {
            **self.admin_site.each_context(request),
            **self.get_context(request),
            "title": "WebSocket metrics",
            "opts": self.opts,
            "panel_template": self.panel_template_name,
        }
        request.current_app = self.admin_site.name
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


admin.site.register(Metrics, MetricsAdmin)
