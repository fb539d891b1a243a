"""Who may see the stats: ``STATS_PERMISSION_CLASSES``, read at call time."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from ..conf import get_setting

__all__ = ["get_stats_permissions", "user_has_stats_permission"]

logger = logging.getLogger("reznet_ws.stats")


def get_stats_permissions() -> list[BasePermission]:
    """Return instances of ``STATS_PERMISSION_CLASSES`` (dotted paths or classes)."""
    return [
        (import_string(cls) if isinstance(cls, str) else cls)()
        for cls in get_setting("STATS_PERMISSION_CLASSES")
    ]


def user_has_stats_permission(user: Any, view: APIView | None = None) -> bool:
    """Return True when ``STATS_PERMISSION_CLASSES`` let ``user`` read the stats.

    For callers without a DRF request (the WebSocket ``get_stats`` event, the admin page): the
    classes see a GET request carrying ``user``. A class that fails on such a request denies.
    """
    http = HttpRequest()
    http.method = "GET"
    request = Request(http)
    request.user = user
    view = view if view is not None else APIView()
    view.request = request
    try:
        return all(p.has_permission(request, view) for p in get_stats_permissions())
    except Exception:
        logger.warning("A STATS_PERMISSION_CLASSES class failed; access denied.", exc_info=True)
        return False
