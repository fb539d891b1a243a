"""Open-file limits of a server process: every WebSocket holds one file descriptor.

``reznet-daphne`` raises the soft limit to the hard limit at start (what a server expecting many
connections wants; unprivileged processes may do it) and logs how many connections the limit
leaves room for, with a warning when that is fewer than :data:`WARN_BELOW`.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["RESERVED_FDS", "WARN_BELOW", "raise_open_file_limit"]

logger = logging.getLogger("reznet_ws.server")

#: Descriptors kept for everything but client sockets (listening socket, logs, Redis, files).
RESERVED_FDS = 64
#: Fewer connections than this in reach of the limit are worth a warning.
WARN_BELOW = 10_000


def raise_open_file_limit(resource_module: Any = None) -> int | None:
    """Raise ``RLIMIT_NOFILE``'s soft limit to its hard limit; return the connections it allows.

    Returns None where the platform has no such limit. ``resource_module`` is a test seam.
    """
    if resource_module is None:
        try:
            import resource as resource_module
        except ImportError:  # pragma: no cover - not on POSIX
            return None
    soft, hard = resource_module.getrlimit(resource_module.RLIMIT_NOFILE)
    if hard != resource_module.RLIM_INFINITY and soft < hard:
        try:
            resource_module.setrlimit(resource_module.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            logger.warning("Could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    room = max(0, soft - RESERVED_FDS)
    if room < WARN_BELOW:
        logger.warning(
            "The open-file limit (%d) leaves room for about %d WebSocket connections: raise it "
            "(ulimit -n, LimitNOFILE= in systemd) to serve more.",
            soft,
            room,
        )
    else:
        logger.info("The open-file limit (%d) leaves room for about %d connections.", soft, room)
    return room
