"""URLs of the example project."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from example_project.chat.views import index

urlpatterns = [
    path("", index, name="chat"),
    path("admin/", admin.site.urls),
    path("api/websocket/", include("reznet_ws.api.urls")),
]
