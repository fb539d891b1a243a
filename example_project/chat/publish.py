"""Where a stored message goes: its channel's chat group and the activity feed's group.

The REST view (sync code) calls :func:`publish_message`; the chat consumer (async code) awaits
``self.broadcast(...)`` with the same groups, event names and data.
"""

from __future__ import annotations

import reznet_ws

from .models import ChatMessage

__all__ = ["ACTIVITY_GROUP", "chat_group", "publish_message"]

#: Every activity feed connection is a member of this group.
ACTIVITY_GROUP = "activity"


def chat_group(channel_id: str) -> str:
    """Return the group of the chat connections showing ``channel_id``."""
    return f"chat.{channel_id}"


def publish_message(message: ChatMessage) -> bool:
    """Broadcast a stored message from sync code; False when the layer refused either event."""
    group = chat_group(message.channel_id)
    delivered = reznet_ws.broadcast_sync(group, "message_new", message.as_event())
    noted = reznet_ws.broadcast_sync(ACTIVITY_GROUP, "activity_new", message.as_activity())
    return delivered and noted
