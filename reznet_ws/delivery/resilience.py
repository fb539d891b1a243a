"""Receiving from a channel layer through its outages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .drops import report_fault

__all__ = ["resilient_receive"]

#: Backoff bounds (seconds) between two receive attempts on an unreachable layer.
MIN_BACKOFF = 0.05
MAX_BACKOFF = 2.0


async def resilient_receive(receive: Callable[[], Awaitable[Any]], layer: Any) -> Any:
    """Return the next message of ``receive()``, retrying with backoff while the layer fails.

    Each failure is counted as ``error:layer_unavailable`` and logged (rate-limited); the
    caller only sees cancellation.
    """
    backoff = MIN_BACKOFF
    while True:
        try:
            return await receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report_fault(
                "layer_unavailable", f"{type(layer).__name__} receive: {type(exc).__name__}: {exc}"
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
