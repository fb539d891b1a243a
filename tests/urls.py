"""URLconf of the test suite: the admin (with the metrics page) and reznet_ws's API."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/websocket/", include("reznet_ws.api.urls")),
]
