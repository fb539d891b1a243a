"""daphne with permessage-deflate (RFC 7692).

Importing this package is cheap: nothing here imports Twisted. ``reznet_ws.server.server`` installs
daphne's asyncio reactor when imported, so import it (or the CLI) only in a server process.
"""

from __future__ import annotations

__all__: list[str] = []
