"""The one module that knows autobahn's internals: where a connection keeps its compressor.

Importing it is cheap: it never imports autobahn (the system checks ask it too).

autobahn has no public way to choose the compression level: its server-side permessage-deflate
processor, built in ``succeedHandshake``, always compresses at zlib's default level, and the
protocol keeps it in the private ``_perMessageCompress`` (also listed, publicly, in
``websocket_extensions_in_use``). :func:`use_compressor` swaps in the levelled processor on the
autobahn releases it was written for (:data:`TESTED_MAJOR_VERSIONS`) and otherwise leaves
autobahn's own processor in place, at its own level, with a warning logged once: an autobahn
upgrade costs the ``DEFLATE_LEVEL`` setting, never a connection.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from typing import Any

__all__ = [
    "AUTOBAHN_LEVEL",
    "TESTED_MAJOR_VERSIONS",
    "autobahn_version",
    "levels_supported",
    "use_compressor",
]

logger = logging.getLogger("reznet_ws.server")

#: autobahn releases (year-based major versions) whose protocol internals this module knows.
TESTED_MAJOR_VERSIONS = range(26, 27)
#: The level autobahn's own processor compresses at (zlib's default, which is level 6).
AUTOBAHN_LEVEL = 6


def autobahn_version() -> str | None:
    """Return the installed autobahn's version, or None when it is not installed."""
    try:
        return importlib.metadata.version("autobahn")
    except importlib.metadata.PackageNotFoundError:
        return None


def levels_supported(version: str | None = None) -> bool:
    """Return True when the compression level can be set on this autobahn.

    ``version`` is autobahn's version string (None: the installed one; a test seam).
    """
    version = version if version is not None else autobahn_version()
    found = re.match(r"\d+", version or "")
    return found is not None and int(found.group()) in TESTED_MAJOR_VERSIONS


def use_compressor(protocol: Any, pmce: Any, version: str | None = None) -> bool:
    """Make ``pmce`` the permessage-deflate processor of ``protocol``'s open connection.

    Called once the handshake succeeded, before any message is sent. Returns False, leaving
    autobahn's own processor (and level) in place, when this autobahn is not a tested release
    (``version`` as in :func:`levels_supported`) or the connection has no processor where this
    module expects it.
    """
    current = getattr(protocol, "_perMessageCompress", None)
    in_use = getattr(protocol, "websocket_extensions_in_use", None)
    if not levels_supported(version) or not isinstance(in_use, list) or current not in in_use:
        _warn_fallback(version if version is not None else autobahn_version())
        return False
    protocol.websocket_extensions_in_use = [pmce if ext is current else ext for ext in in_use]
    protocol._perMessageCompress = pmce
    return True


@functools.cache
def _warn_fallback(version: str | None) -> None:
    logger.warning(
        "reznet-ws cannot set the compression level on autobahn %s (tested: %d.x): "
        "DEFLATE_LEVEL is not applied, messages are compressed at autobahn's own level (%d)",
        version,
        TESTED_MAJOR_VERSIONS[-1],
        AUTOBAHN_LEVEL,
    )
