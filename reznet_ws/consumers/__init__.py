"""The consumer mixins: thin Channels adapters over :mod:`reznet_ws.delivery` and the codec.

- :class:`OptimizedConsumerMixin` for ``AsyncJsonWebsocketConsumer`` (:mod:`.mixin`);
- :class:`OptimizedSyncConsumerMixin` for ``JsonWebsocketConsumer`` (:mod:`.sync`).
"""

from __future__ import annotations

from ..delivery.connection import CLOSE_TOO_SLOW
from .base import CLOSE_TOO_MANY_ERRORS
from .mixin import OptimizedConsumerMixin, OptimizedJsonWebsocketConsumer
from .sync import OptimizedSyncConsumerMixin, OptimizedSyncJsonWebsocketConsumer

__all__ = [
    "CLOSE_TOO_MANY_ERRORS",
    "CLOSE_TOO_SLOW",
    "OptimizedConsumerMixin",
    "OptimizedJsonWebsocketConsumer",
    "OptimizedSyncConsumerMixin",
    "OptimizedSyncJsonWebsocketConsumer",
]
