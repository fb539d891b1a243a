"""reznet_ws: smaller, faster WebSocket payloads for Django Channels.

Importing the package stays cheap: :func:`broadcast` and :func:`broadcast_sync` (from
:mod:`reznet_ws.delivery.sending`) are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "broadcast", "broadcast_sync"]


def __getattr__(name: str) -> Any:
    if name in ("broadcast", "broadcast_sync"):
        from .delivery import sending

        return getattr(sending, name)
    raise AttributeError(f"module 'reznet_ws' has no attribute {name!r}")
