"""Settings for reznet_ws: one ``REZNET_WS`` dict merged over :data:`DEFAULTS`.

:func:`get_config` is the one reader of the settings: every module reads ``REZNET_WS`` through it,
at call time. It is cached, and the cache is cleared on Django's ``setting_changed`` signal so
``override_settings`` works everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["DEFAULTS", "get_config"]

#: Every key of ``settings.REZNET_WS`` with its default. docs/settings.md documents each one and
#: a test keeps that page and this dict in step.
DEFAULTS: dict[str, Any] = {
    # codec / protocol
    "OPTIMIZE": True,
    "FIELD_MAP": None,
    "EXTRA_FIELDS": {},
    "TIMESTAMP_FIELDS": None,
    "EXTRA_TIMESTAMP_FIELDS": [],
    "GZIP_THRESHOLD": 10240,
    "GZIP_LEVEL": 6,
    "GZIP_MIN_SAVING": 0.10,
    "JSON_BACKEND": "auto",
    "PREFER_MSGPACK": False,
    # keyed events and deltas
    "DELTA_MAX_KEYS": 1000,
    "DELTA_MAX_BYTES": 1_048_576,
    "DELTA_GROUP_MAX_KEYS": 10_000,
    "DELTA_GROUP_MAX_BYTES": 67_108_864,
    "DELTA_FULL_EVERY": 100,
    "DELTA_MAX_RATIO": 0.8,
    # entity references (docs/deltas.md)
    "ENTITIES": {},
    "ENTITY_MAX_COUNT": 256,
    "ENTITY_MAX_SIZE": 4096,
    # per-connection batching
    "BATCH_WINDOW": 0.05,
    "BATCH_SIZE": 10,
    # fan-out (join_group / broadcast)
    "FANOUT_MAX_BACKLOG": 1_048_576,
    "FANOUT_MAX_DROPS": 100,
    # group streams (one compressor per group, reznet_features=stream)
    "STREAM_MODE": True,
    "STREAM_WINDOW_BITS": 15,
    "STREAM_MEM_LEVEL": 8,
    "STREAM_LEVEL": 6,
    "STREAM_MIN_MEMBERS": 2,
    "STREAM_EPOCH_SECONDS": 5.0,
    "STREAM_EPOCH_MESSAGES": 10_000,
    "STREAM_EPOCH_BYTES": 8_388_608,
    "STREAM_MAX_STREAMS": 1000,
    "STREAM_ZSTD": None,
    "STREAM_ZSTD_LEVEL": 6,
    "STREAM_ZSTD_WINDOW_LOG": 22,
    # incoming messages
    "MAX_MESSAGE_BYTES": 1_048_576,
    "MAX_INFLATE_BYTES": 1_048_576,
    "MAX_DEPTH": 64,
    "MAX_PROTOCOL_ERRORS": 10,
    "MAX_BATCH_EVENTS": 100,
    "INCOMING_RATE": 100.0,
    "INCOMING_BURST": 200,
    # logging
    "LOG_PAYLOAD_THRESHOLD": 1024,
    # stats
    "STATS_ENABLED": True,
    "STATS_CACHE_ALIAS": "default",
    "STATS_FLUSH_INTERVAL": 1.0,
    "STATS_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "STATS_KEY_PREFIX": "reznet_ws",
    "STATS_PROMETHEUS": False,
    # permessage-deflate for daphne (reznet_ws.server)
    "PERMESSAGE_DEFLATE": True,
    "DEFLATE_LEVEL": 6,
    "DEFLATE_SERVER_MAX_WINDOW_BITS": 12,
    "DEFLATE_CLIENT_MAX_WINDOW_BITS": 12,
    "DEFLATE_MEM_LEVEL": 5,
    "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER": True,
    "DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER": False,
    "DEFLATE_EXCLUDE_PATHS": [],
    # reznet-daphne
    "GC_FREEZE_CONNECTIONS": 1000,
    "LISTEN_BACKLOG": 4096,
}


def get_config() -> Mapping[str, Any]:
    """Return ``DEFAULTS`` updated with ``settings.REZNET_WS``; cached until settings change.

    Without Django settings (no ``DJANGO_SETTINGS_MODULE`` and nothing configured yet, as when
    ``reznet-daphne`` serves a plain ASGI app) this is the defaults alone, not cached, so settings
    configured later are seen. Called on the message path: a cached read is one global lookup.
    """
    cached = _cached
    if cached is not None:
        return cached
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return _DEFAULTS_VIEW
    return _load()


_DEFAULTS_VIEW: Mapping[str, Any] = MappingProxyType(DEFAULTS)
_cached: Mapping[str, Any] | None = None


def _load() -> Mapping[str, Any]:
    global _cached
    user: Mapping[str, Any] = getattr(settings, "REZNET_WS", None) or {}
    _cached = MappingProxyType({**DEFAULTS, **user})
    return _cached


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    global _cached
    if setting == "REZNET_WS":
        _cached = None
