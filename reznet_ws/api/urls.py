"""``path("api/websocket/", include("reznet_ws.api.urls"))`` gives the original's URLs."""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import HealthView, MetricsView, SchemaView, StatsResetView, StatsView

__all__ = ["api_urlpatterns", "app_name", "urlpatterns"]

app_name = "reznet_ws"

#: The endpoints the OpenAPI schema describes.
api_urlpatterns: list[URLPattern] = [
    path("stats", StatsView.as_view(), name="stats"),
    path("stats/reset", StatsResetView.as_view(), name="stats-reset"),
    path("health", HealthView.as_view(), name="health"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]

urlpatterns: list[URLPattern] = [
    *api_urlpatterns,
    path("schema", SchemaView.as_view(endpoints=api_urlpatterns), name="schema"),
]
