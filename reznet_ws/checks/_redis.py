"""The one place that knows where redis-py keeps its default socket timeout.

redis-py 8.1 gave every connection a read timeout by default and keeps the value in a private
module, ``redis._defaults``. That module is read only on the versions it was written for; on any
other version, or if it moves, the value comes from the public API: the ``socket_timeout`` of a
connection built with no arguments (building one does not connect).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from typing import Any

__all__ = ["PRIVATE_MODULE", "default_socket_timeout", "public_default_socket_timeout"]

#: The private module, and the first redis-py release that has it.
PRIVATE_MODULE = "redis._defaults"
_PRIVATE_SINCE = (8, 1)


def default_socket_timeout(private_module: str = PRIVATE_MODULE) -> float | None:
    """Return the read timeout redis-py gives a connection by default (None: no timeout).

    None too when redis-py is not installed. ``private_module`` is a test seam: a module that
    cannot be imported sends the lookup to :func:`public_default_socket_timeout`.
    """
    version = _redis_version()
    if version is None:
        return None
    if version >= _PRIVATE_SINCE:
        try:
            value = importlib.import_module(private_module).DEFAULT_SOCKET_TIMEOUT
        except (ImportError, AttributeError):
            pass
        else:
            return _seconds(value)
    return public_default_socket_timeout()


def public_default_socket_timeout() -> float | None:
    """Return ``socket_timeout`` of an asyncio connection built with redis-py's defaults."""
    from redis.asyncio.connection import Connection

    return _seconds(Connection().socket_timeout)


def _redis_version() -> tuple[int, ...] | None:
    try:
        version = importlib.metadata.version("redis")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _seconds(value: Any) -> float | None:
    return float(value) if value is not None else None
