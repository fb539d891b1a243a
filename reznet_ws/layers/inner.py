"""The inner layer: Channels' factory for it, and the kinds of error it raises.

``UNAVAILABLE_ERRORS`` are the exceptions that mean the inner layer's server cannot be reached;
:func:`_error_kind` names a failure for the stats (``unavailable``, ``channel_full``, ``error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import ChannelLayerManager

try:
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    _REDIS_ERRORS: tuple[type[BaseException], ...] = (_RedisConnectionError, _RedisTimeoutError)
except ImportError:  # pragma: no cover - redis is an optional extra
    _REDIS_ERRORS = ()

try:
    from channels_redis.core import RedisChannelLayer as _RedisCoreLayer
except ImportError:  # pragma: no cover - channels_redis is an optional extra
    _RedisCoreLayer = None  # type: ignore[assignment,misc]

__all__ = ["UNAVAILABLE_ERRORS"]

#: Exceptions that mean "the inner layer's server cannot be reached right now".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, *_REDIS_ERRORS)


class _InnerLayers(ChannelLayerManager):
    """Channels' own layer factory, reading one ``{"BACKEND", "CONFIG"}`` dict."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self._inner_configs = {"inner": config}

    @property
    def configs(self) -> dict[str, Mapping[str, Any]]:
        return self._inner_configs


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, ChannelFull):
        return "channel_full"
    return "unavailable" if isinstance(exc, UNAVAILABLE_ERRORS) else "error"
