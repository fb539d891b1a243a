"""URLs of the example project."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from example_project.chat.views import ChannelMessagesView, index

urlpatterns = [
    path("", index, name="chat"),
    path("admin/", admin.site.urls),
    path("api/websocket/", include("reznet_ws.api.urls")),
    path(
        "api/chat/channels/<str:channel_id>/messages/",
        ChannelMessagesView.as_view(),
        name="chat-messages",
    ),
]
