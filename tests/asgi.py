"""The test suite's ASGI app: HTTP through Django (tests.urls), WebSockets to tests' consumers.

Served by a real daphne in the wire tests: ``daphne tests.asgi:application`` with
``DJANGO_SETTINGS_MODULE=tests.settings``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from tests.app_consumers import RoomConsumer  # noqa: E402

__all__ = ["application", "django_asgi_app", "websocket_urlpatterns"]

websocket_urlpatterns = [path("ws/room/", RoomConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
