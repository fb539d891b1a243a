"""``runserver``: daphne's development server with permessage-deflate.

With ``--noreload`` it shuts down gracefully on SIGTERM / SIGINT, as ``reznet-daphne`` does (the
autoreloader runs the server in a thread, where Twisted cannot handle signals).

Django uses the ``runserver`` of the first app in ``INSTALLED_APPS`` that has one, so list
``reznet_ws`` before ``daphne`` (system check ``reznet_ws.W030`` warns otherwise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from daphne.management.commands.runserver import Command as DaphneRunserverCommand
from django.core.management.base import CommandParser

from reznet_ws.server.arguments import (
    add_deflate_arguments,
    add_shutdown_arguments,
    deflate_overrides,
    shutdown_overrides,
)
from reznet_ws.server.deflate import InvalidDeflateOptions, load_options
from reznet_ws.server.server import DeflateServer

__all__ = ["Command"]


class Command(DaphneRunserverCommand):
    help = (
        "Starts a lightweight web server for development (daphne, ASGI) that negotiates "
        "permessage-deflate with WebSocket clients."
    )
    server_cls: Callable[..., DeflateServer] = DeflateServer

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        add_deflate_arguments(parser)
        add_shutdown_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        self.deflate_overrides = deflate_overrides(options)
        self.server_cls = functools.partial(
            DeflateServer, deflate_overrides=self.deflate_overrides, **shutdown_overrides(options)
        )
        super().handle(*args, **options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        """Called by runserver (in the reloaded process): prints the options, then serves."""
        if options.get("use_asgi", True):
            try:
                description = load_options(**self.deflate_overrides).describe()
            except InvalidDeflateOptions:
                pass  # the system checks (reznet_ws.E03x) report it next
            else:
                self.stdout.write(f"permessage-deflate: {description}\n")
        super().inner_run(*args, **options)
