"""DRF views: stats, reset, health, the OpenAPI schema and the Prometheus text endpoint.

Every view states its permissions. ``stats``, ``stats/reset`` and ``metrics`` use
``STATS_PERMISSION_CLASSES``, read on each request in :meth:`StatsPermissionMixin.get_permissions`
(a class attribute would bind the setting at import, and ``override_settings`` would not reach it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import Http404, HttpResponse
from django.urls import include, path
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import __version__
from ..conf import get_config
from ..stats import StatsUnavailable, get_stats, reset_stats
from ..stats.prometheus import INSTALL_HINT, prometheus_available, render_metrics
from .health import check_cache, check_channel_layer, get_features
from .permissions import get_stats_permissions
from .serializers import DetailSerializer, HealthSerializer, ResetSerializer, StatsSerializer

__all__ = [
    "HealthView",
    "MetricsView",
    "SchemaView",
    "StatsPermissionMixin",
    "StatsResetView",
    "StatsView",
]

RESET_MESSAGE = "WebSocket statistics reset successfully"
UNAVAILABLE = "The stats cache is unavailable."
_TAGS = ["websocket"]


def _unavailable() -> Response:
    return Response({"detail": UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


class StatsPermissionMixin:
    """``permission_classes = None`` means ``STATS_PERMISSION_CLASSES``, read per request."""

    permission_classes: Sequence[type[BasePermission]] | None = None

    def get_permissions(self) -> list[BasePermission]:
        """Return the permission instances for this request (called by DRF's ``initial()``)."""
        if self.permission_classes is not None:
            return [cls() for cls in self.permission_classes]
        return get_stats_permissions()


@extend_schema(tags=_TAGS, responses={200: StatsSerializer, 503: DetailSerializer})
class StatsView(StatsPermissionMixin, APIView):
    """Fleet-wide WebSocket payload stats."""

    schema = AutoSchema()

    def get(self, request: Request) -> Response:
        try:
            return Response(StatsSerializer(get_stats()).data)
        except StatsUnavailable:
            return _unavailable()


@extend_schema(tags=_TAGS, request=None, responses={200: ResetSerializer, 503: DetailSerializer})
class StatsResetView(StatsPermissionMixin, APIView):
    """Zero the counters (open connections stay counted)."""

    schema = AutoSchema()

    def post(self, request: Request) -> Response:
        try:
            reset_stats()
            stats = get_stats()
        except StatsUnavailable:
            return _unavailable()
        return Response({"message": RESET_MESSAGE, "stats": StatsSerializer(stats).data})


@extend_schema(tags=_TAGS, responses={200: HealthSerializer, 503: HealthSerializer})
class HealthView(APIView):
    """Public health check: features and component states; 503 when a component is down."""

    schema = AutoSchema()
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    def get_health(self) -> dict[str, Any]:
        """Return the health document (the response body)."""
        components = {
            "cache": {"status": check_cache()},
            "channel_layer": {"status": check_channel_layer()},
        }
        health: dict[str, Any] = {
            "status": "healthy",
            "active_connections": None,
            "features": get_features(),
            "performance": None,
            "components": components,
        }
        if any(c["status"] == "down" for c in components.values()):
            health["status"] = "unhealthy"
        if components["cache"]["status"] == "up":
            try:
                stats = get_stats()
            except StatsUnavailable:
                components["cache"]["status"] = "down"
                health["status"] = "unhealthy"
            else:
                health["active_connections"] = stats["active_connections"]
                health["performance"] = {
                    "total_messages": stats["total_messages"],
                    "reduction_percentage": stats["reduction_percentage"],
                }
        return health

    def get(self, request: Request) -> Response:
        health = HealthSerializer(self.get_health()).data
        healthy = health["status"] == "healthy"
        return Response(health, status=200 if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


@extend_schema(tags=_TAGS, responses={(200, "text/plain"): OpenApiTypes.STR, 501: DetailSerializer})
class MetricsView(StatsPermissionMixin, APIView):
    """Prometheus text format (when STATS_PROMETHEUS is on; needs the prometheus extra)."""

    schema = AutoSchema()

    def get(self, request: Request) -> HttpResponse | Response:
        if not get_config()["STATS_PROMETHEUS"]:
            raise Http404("STATS_PROMETHEUS is off.")
        if not prometheus_available():
            detail = f"prometheus_client is not installed: {INSTALL_HINT}"
            return Response({"detail": detail}, status=status.HTTP_501_NOT_IMPLEMENTED)
        try:
            stats: dict[str, Any] | None = get_stats()
        except StatsUnavailable:
            stats = None
        body, content_type = render_metrics(stats)
        return HttpResponse(body, content_type=content_type)


class SchemaView(SpectacularAPIView):
    """OpenAPI 3 schema of these endpoints (YAML, or JSON with ``?format=json``)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    custom_settings = {
        "TITLE": "reznet-ws",
        "DESCRIPTION": "WebSocket payload stats and health (reznet-ws).",
        "VERSION": __version__,
    }

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Describe these endpoints where the project mounted them (the route of this view minus
        # its own "schema"), and nothing else of the project.
        from . import urls

        prefix = request.resolver_match.route.removesuffix("schema")
        patterns = [path(prefix, include((urls.api_urlpatterns, "reznet_ws")))]
        self.urlconf = patterns  # type: ignore[assignment]  # drf-spectacular takes patterns too
        return super().get(request, *args, **kwargs)  # type: ignore[no-any-return]
