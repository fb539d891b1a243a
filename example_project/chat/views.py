"""The chat page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def index(request: HttpRequest) -> HttpResponse:
    """Render the demo chat page (it talks to ``/ws/chat/`` through the JS client)."""
    return render(request, "chat/index.html")
