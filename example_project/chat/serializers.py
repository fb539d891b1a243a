"""The REST API's message: ``content`` in, the chat consumer's ``message_new`` shape out."""

from __future__ import annotations

from rest_framework import serializers

from .models import ChatMessage

__all__ = ["ChatMessageSerializer"]


class ChatMessageSerializer(serializers.ModelSerializer):
    """A client sends only ``content``; the server fills in the channel, the author and the time."""

    content = serializers.CharField(max_length=4000, trim_whitespace=True)
    updated_at = serializers.SerializerMethodField()

    class Meta:
        model = ChatMessage
        fields = [
            "message_id", "channel_id", "author_type", "author_name", "author_id", "content",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = [name for name in fields if name != "content"]

    def get_updated_at(self, message: ChatMessage) -> None:
        """Messages are not edited in the demo (the chat consumer sends ``null`` too)."""
        return None
