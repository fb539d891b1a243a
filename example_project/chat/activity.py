"""The activity feed: a read-only sync consumer (``JsonWebsocketConsumer``) over the ORM.

It sends the latest stored messages and then every new one, whether it was typed in the page
(``consumers.ChatConsumer``) or posted through the REST API (``views.ChannelMessagesView``).
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import JsonWebsocketConsumer

from reznet_ws.consumers import OptimizedSyncConsumerMixin

from .models import CHANNELS, ChatMessage
from .publish import ACTIVITY_GROUP

__all__ = ["ActivityConsumer"]


class ActivityConsumer(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    """The read-only activity feed: a sync consumer, so its handlers use the ORM directly.

    It joins ``activity`` (new messages then reach it from the REST view and the chat consumer
    without any code here) and sends ``activity_recent``: the latest stored messages, newest
    first. The client event ``recent`` (``{"channel_id": ..., "limit": ...}``, both optional)
    asks again, for every channel or for one.
    """

    default_limit = 20
    max_limit = 50

    def connect(self) -> None:
        # Join before the query: a message stored in between then arrives twice (the page keeps
        # one per message_id) rather than never.
        self.join_group(ACTIVITY_GROUP)
        self.accept()
        self.send_recent(None, self.default_limit)

    def receive_event(self, event: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        if event == "recent":
            channel_id = data.get("channel_id")
            limit = data.get("limit")
            if not isinstance(limit, int) or isinstance(limit, bool):
                limit = self.default_limit
            self.send_recent(
                channel_id if channel_id in CHANNELS else None, max(1, min(limit, self.max_limit))
            )
        else:
            self.send_event("unknown_event", {"event": event})

    def send_recent(self, channel_id: str | None, limit: int) -> None:
        """Query the latest messages (of ``channel_id``, or of every channel) and send them."""
        messages = ChatMessage.objects.all()
        if channel_id is not None:
            messages = messages.filter(channel_id=channel_id)
        items = [message.as_activity() for message in messages[:limit]]
        self.send_event("activity_recent", {"channel_id": channel_id, "items": items})
