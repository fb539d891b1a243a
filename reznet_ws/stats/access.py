"""Who may read the stats: ``STATS_PERMISSION_CLASSES``, read at call time.

The API views, the admin page and the WebSocket ``get_stats`` event all ask this module. The
classes are DRF permission classes, so DRF is imported when a permission is evaluated, not when
the stats are imported (the consumer's message path imports them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from ..conf import get_config

if TYPE_CHECKING:
    from rest_framework.permissions import BasePermission
    from rest_framework.views import APIView

__all__ = ["get_stats_permissions", "user_has_stats_permission"]

logger = logging.getLogger("reznet_ws.stats")


def get_stats_permissions() -> list[BasePermission]:
    """Return instances of ``STATS_PERMISSION_CLASSES`` (dotted paths or classes)."""
    return [
        (import_string(cls) if isinstance(cls, str) else cls)()
        for cls in get_config()["STATS_PERMISSION_CLASSES"]
    ]


def user_has_stats_permission(user: Any, view: APIView | None = None) -> bool:
    """Return True when ``STATS_PERMISSION_CLASSES`` let ``user`` read the stats.

    For callers without a DRF request (the WebSocket ``get_stats`` event, the admin page): the
    classes see a GET request carrying ``user``. A class that fails on such a request denies.
    """
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework.views import APIView

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
