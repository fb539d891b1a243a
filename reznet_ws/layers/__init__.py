"""``BatchingChannelLayer``: a Channels layer that batches the sends of any other layer.

Configured where Channels users configure layers::

    CHANNEL_LAYERS = {"default": {
        "BACKEND": "reznet_ws.layers.BatchingChannelLayer",
        "CONFIG": {
            "inner": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {...}},
            "window": 0.05, "max_batch": 10, "max_buffer": 10_000, "raise_errors": False,
        },
    }}

``send`` and ``group_send`` queue the message per target and return; the target's queue goes to
the inner layer as one batch envelope after ``window`` seconds, at ``max_batch`` messages, on an
urgent message, on :meth:`drain`, :meth:`flush` and close; a batch that failed with a connection
error is retried with the same envelope id. :meth:`receive` unpacks envelopes, skips the copies of
one it already returned, and returns their messages one by one, so plain Channels consumers work
unchanged. The buffer and its policy live in :mod:`reznet_ws.batching`; this package is the
asyncio adapter. docs/batching-layer.md describes the guarantees.

Where each part lives:

- :mod:`.layer`: ``BatchingChannelLayer`` itself: settings, ``__init__``, what is forwarded to the
  inner layer (``new_channel``, ``flush``, ``close``, ``close_pools``);
- :mod:`.sending`: ``send``, ``group_send``, ``drain``: the per-target drain tasks, envelopes
  and the retry of a batch after a connection error;
- :mod:`.receiving`: ``receive``: unpacking, skipping duplicates, waiting out an unreachable
  inner layer, ``group_add`` / ``group_discard`` and restoring memberships;
- :mod:`.base`: the state both halves share, the failure accounting (``.stats``, logging on the
  ``reznet_ws.layers`` logger) and the reset of the inner layer's idle connections;
- :mod:`.inner`: the inner-layer factory and the error kinds (``UNAVAILABLE_ERRORS``).
"""

from __future__ import annotations

from .inner import UNAVAILABLE_ERRORS
from .layer import BatchingChannelLayer

__all__ = ["UNAVAILABLE_ERRORS", "BatchingChannelLayer"]
