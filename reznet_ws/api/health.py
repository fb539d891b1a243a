"""Component probes for the ``health`` endpoint: the stats cache and the channel layer."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from ..conf import get_config
from ..stats import StatsUnavailable, get_recorder

__all__ = ["check_cache", "check_channel_layer", "get_features"]

_GROUP = "reznet_ws.health"


def get_features() -> dict[str, bool]:
    """Return the features this server has switched on (settings, not one connection's)."""
    config = get_config()
    optimize = bool(config["OPTIMIZE"])
    return {
        "payload_optimization": optimize,
        "field_abbreviation": optimize,
        "timestamps": optimize,
        "gzip_compression": optimize,
        "message_batching": optimize and config["BATCH_SIZE"] > 1,
        "permessage_deflate": bool(config["PERMESSAGE_DEFLATE"]),
        "stats": bool(config["STATS_ENABLED"]),
    }


def check_cache() -> str:
    """Return ``"up"``, ``"down"`` or ``"disabled"`` (``STATS_ENABLED`` off) for the stats cache."""
    if not get_config()["STATS_ENABLED"]:
        return "disabled"
    try:
        get_recorder().store.ping()
    except StatsUnavailable:
        return "down"
    return "up"


def check_channel_layer(timeout: float = 2.0) -> str:
    """Return ``"up"``, ``"down"`` or ``"not_configured"`` for the default channel layer.

    The probe is a ``group_add`` / ``group_discard`` round trip, which touches the layer's backend
    (Redis for channels_redis) without leaving a message behind.
    """
    try:
        layer = get_channel_layer()
    except Exception:  # InvalidChannelLayerError, a backend that cannot be built
        return "down"
    if layer is None:
        return "not_configured"
    try:
        async_to_sync(_probe)(layer, timeout)
    except Exception:
        return "down"
    return "up"


async def _probe(layer: Any, timeout: float) -> None:
    async def round_trip() -> None:
        channel = await layer.new_channel("reznet_ws.health.")
        if "groups" in getattr(layer, "extensions", ()):
            await layer.group_add(_GROUP, channel)
            await layer.group_discard(_GROUP, channel)

    await asyncio.wait_for(round_trip(), timeout)
