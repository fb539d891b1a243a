"""``manage.py chat_post <channel> <content>``: post into the chat from a shell or a script."""

from __future__ import annotations

from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models import CHANNELS, ChatMessage
from ...publish import publish_message


class Command(BaseCommand):
    help = (
        "Store a chat message and broadcast it to the chat page and the activity feed. The "
        "servers receive it through a channel layer shared between processes (set REDIS_URL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", choices=CHANNELS)
        parser.add_argument("content")
        parser.add_argument("--author", default="@ops", help="Author name (default @ops).")

    def handle(self, *args: Any, **options: Any) -> None:
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            self.stderr.write(
                self.style.WARNING(
                    "The channel layer is in memory (REDIS_URL is not set): the message is "
                    "stored, but no server process receives the broadcast."
                )
            )
        message = ChatMessage.objects.create(
            channel_id=options["channel"],
            author_name=options["author"],
            author_id="manage.py",
            content=options["content"],
            source="command",
        )
        if not publish_message(message):
            raise CommandError("The channel layer refused the broadcast (the message is stored).")
        self.stdout.write(f"Posted {message.message_id} to #{message.channel_id}.")
