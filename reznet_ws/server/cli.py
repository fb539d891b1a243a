"""``reznet-daphne``: the ``daphne`` command with permessage-deflate.

Same arguments as ``daphne``, plus the compression options of
:func:`reznet_ws.server.arguments.add_deflate_arguments` and ``--shutdown-timeout``.
Command-line values override ``REZNET_WS``; without Django settings the defaults apply.

    reznet-daphne -b 0.0.0.0 -p 8000 myproject.asgi:application
    python -m reznet_ws.server.cli --deflate-server-window-bits 15 myproject.asgi:application
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence

import daphne.cli

from reznet_ws.server.arguments import (
    add_deflate_arguments,
    add_shutdown_arguments,
    deflate_overrides,
    shutdown_overrides,
)
from reznet_ws.server.deflate import InvalidDeflateOptions
from reznet_ws.server.limits import raise_open_file_limit
from reznet_ws.server.server import DeflateServer

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface(daphne.cli.CommandLineInterface):
    """daphne's command line with the permessage-deflate options."""

    description = (
        "Django HTTP/WebSocket server (daphne) with permessage-deflate and graceful shutdown"
    )
    server_class: Callable[..., DeflateServer] = DeflateServer

    def __init__(self) -> None:
        super().__init__()
        add_deflate_arguments(self.parser)
        add_shutdown_arguments(self.parser)

    def run(self, args: Sequence[str]) -> None:
        """Parse ``args`` and serve until stopped (daphne's ``run`` with our server)."""
        options = vars(self.parser.parse_args(args))
        self.server_class = functools.partial(
            DeflateServer,
            deflate_overrides=deflate_overrides(options),
            **shutdown_overrides(options),
        )
        raise_open_file_limit()
        try:
            super().run(args)
        except InvalidDeflateOptions as exc:
            self.parser.error(str(exc))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``reznet-daphne`` console script."""
    CommandLineInterface().run(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    main()
