"""The chat page and the REST endpoint that posts into the chat from outside a WebSocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from .models import CHANNELS, ChatMessage
from .publish import publish_message
from .serializers import ChatMessageSerializer

__all__ = ["ChannelMessagesView", "author_of", "index"]

#: Messages ``GET`` returns, newest first.
LIST_LIMIT = 50


def index(request: HttpRequest) -> HttpResponse:
    """Render the demo chat page (it talks to ``/ws/chat/`` through the JS client)."""
    return render(request, "chat/index.html")


def author_of(user: AbstractBaseUser | AnonymousUser) -> tuple[str, str]:
    """Return the author name and id of a message posted through the API by ``user``."""
    if user.is_authenticated:
        return f"@{user.get_username()}", f"user-{user.pk}"
    return "@guest", "guest"


class ChannelMessagesView(generics.ListCreateAPIView):
    """``/api/chat/channels/<channel_id>/messages/``: read a channel, or post into it.

    ``POST {"content": "..."}`` stores the message and broadcasts it with
    ``reznet_ws.broadcast_sync()``: every chat connection showing the channel receives the same
    ``message_new`` event as for a message typed in the page, and every activity feed an
    ``activity_new``. The answer is the message plus ``delivered``: False when the channel layer
    refused a broadcast (the message is stored all the same).

    Anybody may post, as in the page (anonymous posts are by ``@guest``); requests are throttled
    per user or address (``chat_messages`` in ``DEFAULT_THROTTLE_RATES``). A request with a
    session cookie needs the CSRF token (DRF's ``SessionAuthentication``).
    """

    serializer_class = ChatMessageSerializer
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "chat_messages"
    pagination_class = None

    def get_channel_id(self) -> str:
        """Return the channel of the URL; 404 for a channel the demo does not have."""
        channel_id: str = self.kwargs["channel_id"]
        if channel_id not in CHANNELS:
            raise NotFound(f"No channel {channel_id!r}; the channels are {', '.join(CHANNELS)}.")
        return channel_id

    def get_queryset(self) -> QuerySet[ChatMessage]:
        return ChatMessage.objects.filter(channel_id=self.get_channel_id())[:LIST_LIMIT]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name, author_id = author_of(request.user)
        message = serializer.save(
            channel_id=self.get_channel_id(), author_name=name, author_id=author_id, source="api"
        )
        delivered = publish_message(message)
        return Response({**serializer.data, "delivered": delivered}, status=status.HTTP_201_CREATED)
