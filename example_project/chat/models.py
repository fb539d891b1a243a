"""The stored chat messages: what the REST endpoint and the chat page post, and the feed reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

__all__ = ["CHANNELS", "ChatMessage"]

CHANNELS = ("general", "engineering", "agents")
#: How much of a message the activity feed shows.
PREVIEW_LENGTH = 140


class ChatMessage(models.Model):
    """One message: typed in the page, posted through the REST API or by ``manage.py chat_post``."""

    SOURCES = [("websocket", "WebSocket"), ("api", "REST API"), ("command", "manage.py")]

    message_id: models.UUIDField[uuid.UUID | str, uuid.UUID] = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False
    )
    channel_id: models.CharField[str, str] = models.CharField(
        max_length=32, choices=[(c, c) for c in CHANNELS]
    )
    author_type: models.CharField[str, str] = models.CharField(max_length=16, default="user")
    author_name: models.CharField[str, str] = models.CharField(max_length=160)
    author_id: models.CharField[str, str] = models.CharField(max_length=64)
    content: models.TextField[str, str] = models.TextField(max_length=4000)
    source: models.CharField[str, str] = models.CharField(max_length=16, choices=SOURCES)
    created_at: models.DateTimeField[datetime | str, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )

    class Meta:
        # Explicit, so that example_project.asgi (which imports the consumers, which import this
        # model) can be imported under settings that do not install the app, as the library's
        # docs tests do; nothing is queried there.
        app_label = "chat"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.author_name} in #{self.channel_id}: {self.content[:40]}"

    def as_event(self) -> dict[str, Any]:
        """Return the ``message_new`` data: the chat consumer's message shape, field for field."""
        return {
            "message_id": str(self.message_id),
            "channel_id": self.channel_id,
            "author_type": self.author_type,
            "author_name": self.author_name,
            "author_id": self.author_id,
            "content": self.content,
            "created_at": self.created_at,
            "updated_at": None,
        }

    def as_activity(self) -> dict[str, Any]:
        """Return one item of the activity feed (``activity_new`` / ``activity_recent``)."""
        return {
            "message_id": str(self.message_id),
            "channel_id": self.channel_id,
            "author_name": self.author_name,
            "preview": self.content[:PREVIEW_LENGTH],
            "source": self.source,
            "created_at": self.created_at,
        }
