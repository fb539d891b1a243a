"""ASGI entry point of the example project: HTTP through Django, WebSockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from example_project.chat.activity import ActivityConsumer  # noqa: E402
from example_project.chat.consumers import ChatConsumer  # noqa: E402

websocket_urlpatterns = [path("ws/chat/", ChatConsumer.as_asgi())]
# The activity feed is a sync consumer (JsonWebsocketConsumer): its handlers use the ORM.
websocket_urlpatterns += [path("ws/activity/", ActivityConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
