"""What one process keeps on behalf of all its connections and channel layers.

- the live consumers (for a graceful shutdown);
- the layers a broadcast could not reach lately (read by :func:`.hub.layer_problems`);
- the capacity of hub channels in each layer.

The hubs themselves (one per event loop and layer) are in :mod:`.hub`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..consumers.base import ConsumerBase

__all__ = [
    "HUB_CAPACITY",
    "HUB_CHANNEL_PREFIX",
    "SEND_FAILURE_MEMORY",
    "ensure_hub_capacity",
    "layer_label",
    "live_consumers",
    "note_send_failure",
    "note_send_success",
    "recent_send_failures",
    "shutdown_connections",
    "track",
    "untrack",
]

logger = logging.getLogger("reznet_ws.delivery")

#: Names of hub channels start with this (on layers with per-channel capacities).
HUB_CHANNEL_PREFIX = "reznet_hub."
#: Capacity of hub channels unless the layer's ``channel_capacity`` names ``reznet_hub.``.
HUB_CAPACITY = 100_000

_live: weakref.WeakSet[ConsumerBase] = weakref.WeakSet()
#: Layer label -> (monotonic time, description) of the last failed broadcast send.
_send_failures: dict[str, tuple[float, str]] = {}
#: Seconds a failed broadcast send keeps its layer reported by :func:`layer_problems`.
SEND_FAILURE_MEMORY = 10.0


def layer_label(layer: Any) -> str:
    """Return the ``CHANNEL_LAYERS`` alias of ``layer`` (its class name if it has none)."""
    from channels.layers import channel_layers

    for alias, backend in list(channel_layers.backends.items()):
        if backend is layer:
            return str(alias)
    return type(layer).__name__


def recent_send_failures() -> dict[str, str]:
    """Return ``{layer label: problem}`` for layers a broadcast failed on lately."""
    now = time.monotonic()
    return {
        label: f"broadcast failed: {detail}"
        for label, (when, detail) in list(_send_failures.items())
        if now - when < SEND_FAILURE_MEMORY
    }


def note_send_failure(layer: Any, exc: BaseException) -> None:
    """Called when a broadcast could not be handed to ``layer``."""
    _send_failures[layer_label(layer)] = (time.monotonic(), f"{type(exc).__name__}: {exc}")


def note_send_success(layer: Any) -> None:
    """Called after a broadcast reached ``layer``: it is usable again."""
    if _send_failures:
        _send_failures.pop(layer_label(layer), None)


def track(consumer: ConsumerBase) -> None:
    """Called when a consumer starts: it is live until :func:`untrack`."""
    _live.add(consumer)


def untrack(consumer: ConsumerBase) -> None:
    """Called in every exit path of a consumer."""
    _live.discard(consumer)


def live_consumers() -> list[ConsumerBase]:
    """Return the mixin consumers of this process whose connection is still open."""
    return list(_live)


async def shutdown_connections(code: int = 1001, timeout: float = 5.0) -> int:
    """Close every accepted connection of this event loop with ``code``; return how many.

    Each consumer flushes its pending batch first. Called by ``reznet-daphne`` on SIGTERM.
    """
    loop = asyncio.get_running_loop()
    consumers = [c for c in _live if c._reznet_loop is loop and c.is_open()]
    if not consumers:
        return 0
    closes = [asyncio.ensure_future(c.close_connection(code)) for c in consumers]
    done, pending = await asyncio.wait(closes, timeout=timeout)
    for task in pending:
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.warning("Closing a connection at shutdown failed: %r", task.exception())
    return len(consumers)


_capacity_set: weakref.WeakSet[Any] = weakref.WeakSet()


def _capacities(layer: Any) -> list[Any] | None:
    # BaseChannelLayer keeps ``channel_capacity`` as a list of (compiled pattern, capacity),
    # first match wins; pub/sub layers keep no queues and have none.
    patterns = getattr(layer, "channel_capacity", None)
    return patterns if isinstance(patterns, list) else None


def capacities(layer: Any) -> list[Any] | None:
    """Return the layer's ``channel_capacity`` list, or None for layers without one."""
    return _capacities(layer)


def ensure_hub_capacity(layer: Any) -> None:
    """Give hub channels :data:`HUB_CAPACITY` in ``layer`` unless its config names them.

    Capacity is checked by the sending process, so every process that broadcasts calls this
    (once per layer). A ``channel_capacity`` pattern starting with ``reznet_hub`` wins.
    """
    if layer in _capacity_set:
        return
    patterns = _capacities(layer)
    if patterns is not None and not any(
        str(getattr(p, "pattern", "")).startswith("reznet_hub") for p, _ in patterns
    ):
        patterns.insert(0, (re.compile(re.escape(HUB_CHANNEL_PREFIX) + ".*"), HUB_CAPACITY))
    _capacity_set.add(layer)
