"""The command-line options shared by ``reznet-daphne`` and ``runserver``.

No Twisted here (``reznet_ws.server.cli`` imports daphne, which installs its reactor).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

__all__ = [
    "add_deflate_arguments",
    "add_shutdown_arguments",
    "deflate_overrides",
    "shutdown_overrides",
]


def add_deflate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the permessage-deflate options (shared by ``reznet-daphne`` and ``runserver``)."""
    group = parser.add_argument_group("permessage-deflate (RFC 7692)")
    toggle = group.add_mutually_exclusive_group()
    toggle.add_argument(
        "--permessage-deflate",
        dest="permessage_deflate",
        action="store_const",
        const=True,
        default=None,
        help="Negotiate permessage-deflate with clients that offer it (REZNET_WS default: on).",
    )
    toggle.add_argument(
        "--no-permessage-deflate",
        dest="permessage_deflate",
        action="store_const",
        const=False,
        help="Never negotiate permessage-deflate.",
    )
    group.add_argument(
        "--deflate-level",
        type=int,
        choices=range(0, 10),
        metavar="0-9",
        help="zlib compression level (DEFLATE_LEVEL).",
    )
    group.add_argument(
        "--deflate-server-window-bits",
        type=int,
        choices=range(9, 16),
        metavar="9-15",
        help="Server-to-client LZ77 window, log2 bytes (DEFLATE_SERVER_MAX_WINDOW_BITS).",
    )
    group.add_argument(
        "--deflate-client-window-bits",
        type=int,
        choices=range(9, 16),
        metavar="9-15",
        help="Client-to-server window asked of clients that allow it "
        "(DEFLATE_CLIENT_MAX_WINDOW_BITS).",
    )
    group.add_argument(
        "--deflate-mem-level",
        type=int,
        choices=range(1, 10),
        metavar="1-9",
        help="zlib memory level of the server's compressor (DEFLATE_MEM_LEVEL).",
    )
    group.add_argument(
        "--deflate-no-context-takeover",
        action="store_true",
        default=None,
        help="Reset the compression context after every message, both directions.",
    )
    group.add_argument(
        "--deflate-server-no-context-takeover",
        action="store_true",
        default=None,
        help="Compress every message on its own, so a broadcast is compressed once for all its "
        "members (DEFLATE_SERVER_NO_CONTEXT_TAKEOVER, the default).",
    )
    group.add_argument(
        "--deflate-server-context-takeover",
        action="store_true",
        default=None,
        help="Keep the server's compression context between messages: smaller frames, one "
        "compression per member of every broadcast (DEFLATE_SERVER_NO_CONTEXT_TAKEOVER=False).",
    )
    group.add_argument(
        "--deflate-client-no-context-takeover",
        action="store_true",
        default=None,
        help="Ask clients to reset their context after every message "
        "(DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER).",
    )
    group.add_argument(
        "--deflate-exclude-path",
        dest="deflate_exclude_paths",
        action="append",
        metavar="PREFIX",
        help="Never compress connections whose path starts with PREFIX; repeatable, replaces "
        "DEFLATE_EXCLUDE_PATHS.",
    )


def deflate_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    """Map parsed arguments (``vars(namespace)`` or a command's options) to option overrides.

    Options that were not given are None, so the settings (or defaults) apply to them.
    """
    both = options.get("deflate_no_context_takeover")
    paths = options.get("deflate_exclude_paths")
    return {
        "enabled": options.get("permessage_deflate"),
        "level": options.get("deflate_level"),
        "server_max_window_bits": options.get("deflate_server_window_bits"),
        "client_max_window_bits": options.get("deflate_client_window_bits"),
        "mem_level": options.get("deflate_mem_level"),
        "server_no_context_takeover": _server_reset(options, both),
        "client_no_context_takeover": both or options.get("deflate_client_no_context_takeover"),
        "exclude_paths": tuple(paths) if paths else None,
    }


def _server_reset(options: Mapping[str, Any], both: Any) -> bool | None:
    if options.get("deflate_server_context_takeover"):
        return False
    return both or options.get("deflate_server_no_context_takeover")


def add_shutdown_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--shutdown-timeout`` (shared by ``reznet-daphne`` and ``runserver``)."""
    parser.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        metavar="SECONDS",
        default=None,
        help="On SIGTERM or SIGINT, close every WebSocket with 1001 and wait at most this long "
        "for the closes and the applications before stopping (default: 5).",
    )


def shutdown_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    """Map parsed arguments to the server's keyword arguments (only those given)."""
    timeout = options.get("shutdown_timeout")
    return {} if timeout is None else {"shutdown_timeout": timeout}


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, not {value!r}")
    return seconds
