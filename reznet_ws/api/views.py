"""DRF views: stats, reset, health, the OpenAPI schema and the Prometheus text endpoint.

Every view states its permissions. ``stats``, ``stats/reset`` and ``metrics`` use
``STATS_PERMISSION_CLASSES``, read on each request in :meth:`StatsPermissionMixin.get_permissions`
(a class attribute would bind the setting at import, and ``override_settings`` would not reach it).

The OpenAPI parts need drf-spectacular (the ``schema`` extra). Without it the views serve the
same, undescribed, and ``schema`` answers 501 naming the extra (check ``reznet_ws.I050``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.http import Http404, HttpResponse
from django.urls import URLPattern, include, path
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import __version__
from ..conf import get_config
from ..stats import StatsUnavailable, get_stats, reset_stats
from ..stats.prometheus import INSTALL_HINT, prometheus_available, render_metrics
from .health import PROBE_TIMEOUT, build_health, get_layer_problems
from .permissions import get_stats_permissions
from .serializers import (
    DetailSerializer,
    HealthSerializer,
    HealthStatusSerializer,
    ResetSerializer,
    StatsSerializer,
)

__all__ = [
    "SCHEMA_INSTALL_HINT",
    "SCHEMA_MODULE",
    "HealthView",
    "MetricsView",
    "SchemaView",
    "StatsPermissionMixin",
    "StatsResetView",
    "StatsView",
    "schema_available",
]

RESET_MESSAGE = "WebSocket statistics reset successfully"
UNAVAILABLE = "The stats cache is unavailable."
_TAGS = ["websocket"]
_View = TypeVar("_View", bound=type[APIView])

#: The module the OpenAPI parts import; a test names a missing one to see the views without it.
SCHEMA_MODULE = "drf_spectacular"
SCHEMA_INSTALL_HINT = "pip install 'reznet-ws[schema]'"


def schema_available() -> bool:
    """Return True when drf-spectacular (``SCHEMA_MODULE``) can be imported."""
    try:
        importlib.import_module(SCHEMA_MODULE)
    except ImportError:
        return False
    return True


def _describe(**schema: Any) -> Callable[[_View], _View]:
    """Describe a view for the OpenAPI schema with drf-spectacular; without it, leave it as is."""

    def decorate(view: _View) -> _View:
        if not schema_available():
            return view
        from drf_spectacular.openapi import AutoSchema
        from drf_spectacular.utils import extend_schema

        # drf-spectacular's AutoSchema whatever the project's DEFAULT_SCHEMA_CLASS is.
        view.schema = AutoSchema()  # type: ignore[attr-defined]
        return extend_schema(tags=_TAGS, **schema)(view)  # type: ignore[no-any-return]

    return decorate


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


@_describe(responses={200: StatsSerializer, 503: DetailSerializer})
class StatsView(StatsPermissionMixin, APIView):
    """Fleet-wide WebSocket payload stats."""

    def get(self, request: Request) -> Response:
        try:
            return Response(StatsSerializer(get_stats()).data)
        except StatsUnavailable:
            return _unavailable()


@_describe(request=None, responses={200: ResetSerializer, 503: DetailSerializer})
class StatsResetView(StatsPermissionMixin, APIView):
    """Zero the counters (open connections stay counted)."""

    def post(self, request: Request) -> Response:
        try:
            reset_stats()
            stats = get_stats()
        except StatsUnavailable:
            return _unavailable()
        return Response({"message": RESET_MESSAGE, "stats": StatsSerializer(stats).data})


@_describe(responses={200: HealthSerializer, 503: HealthSerializer})
class HealthView(APIView):
    """Health of this process: ``status`` for everybody, every component for the stats permission.

    200 while the process can serve (``healthy`` or ``degraded``), 503 (``unhealthy``) when its
    channel layer cannot be built. Answers within about a second whatever the backends do.
    """

    permission_classes = [AllowAny]
    #: Seconds to wait for one probe (the cache; for a detailed answer, then the stats).
    probe_timeout: float = PROBE_TIMEOUT

    def perform_authentication(self, request: Request) -> None:
        """Authenticate lazily, in :meth:`show_details`: bad credentials must not fail liveness."""

    def show_details(self, request: Request) -> bool:
        """Return True when the caller passes ``STATS_PERMISSION_CLASSES`` (read per request)."""
        try:
            return all(p.has_permission(request, self) for p in get_stats_permissions())
        except Exception:  # failed authentication, a permission class that cannot decide
            return False

    def get_layer_problems(self) -> dict[str, str]:
        """Return this process's channel-layer failures (label -> description); no I/O."""
        return get_layer_problems()

    def get(self, request: Request) -> Response:
        detailed = self.show_details(request)
        health = build_health(
            detailed=detailed, problems=self.get_layer_problems(), timeout=self.probe_timeout
        )
        serializer = HealthSerializer if detailed else HealthStatusSerializer
        unhealthy = health["status"] == "unhealthy"
        code = status.HTTP_503_SERVICE_UNAVAILABLE if unhealthy else status.HTTP_200_OK
        return Response(serializer(health).data, status=code)


@_describe(responses={(200, "text/plain"): str, 501: DetailSerializer})
class MetricsView(StatsPermissionMixin, APIView):
    """Prometheus text format (when STATS_PROMETHEUS is on; needs the prometheus extra)."""

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


class SchemaView(APIView):
    """OpenAPI 3 schema of ``endpoints`` (YAML, or JSON with ``?format=json``).

    ``as_view(endpoints=...)`` returns drf-spectacular's view when it is installed; this class's
    own view answers 501 with the ``pip install`` line. ``reznet_ws.api.urls`` passes its
    endpoints in.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    schema = None  # the schema view is not an endpoint of the schema
    #: The URL patterns the schema describes, mounted where the schema view itself is.
    endpoints: Sequence[URLPattern] = ()

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        """Return the view function: drf-spectacular's with the extra, this class's without."""
        if schema_available():
            return _spectacular_schema_view().as_view(**initkwargs)  # type: ignore[no-any-return]
        return super().as_view(**initkwargs)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        detail = f"The OpenAPI schema needs drf-spectacular: {SCHEMA_INSTALL_HINT}"
        return Response({"detail": detail}, status=status.HTTP_501_NOT_IMPLEMENTED)


@functools.cache
def _spectacular_schema_view() -> type[APIView]:
    from drf_spectacular.views import SpectacularAPIView

    class SpectacularSchemaView(SpectacularAPIView):  # type: ignore[misc]
        """OpenAPI 3 schema of these endpoints (YAML, or JSON with ``?format=json``)."""

        permission_classes = [AllowAny]
        authentication_classes: list[Any] = []
        endpoints: Sequence[URLPattern] = ()
        custom_settings = {
            "TITLE": "reznet-ws",
            "DESCRIPTION": "WebSocket payload stats and health (reznet-ws).",
            "VERSION": __version__,
        }

        def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            # Describe these endpoints where the project mounted them (the route of this view
            # minus its own "schema"), and nothing else of the project.
            prefix = request.resolver_match.route.removesuffix("schema")
            patterns = [path(prefix, include((list(self.endpoints), "reznet_ws")))]
            self.urlconf = patterns  # type: ignore[assignment]  # drf-spectacular takes patterns
            return super().get(request, *args, **kwargs)  # type: ignore[no-any-return]

    return SpectacularSchemaView
