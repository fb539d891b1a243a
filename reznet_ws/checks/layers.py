"""Checks of ``CHANNEL_LAYERS``: one is configured, Redis reads outlast channels_redis's receive,
and every ``BatchingChannelLayer`` entry is well formed.

Ids ``reznet_ws.W001``, ``W003``, ``E040``-``E049`` and ``W040``-``W049``; docs/checks.md lists
them. The layer classes are imported inside the checks, when a ``BatchingChannelLayer`` is
configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from ._redis import default_socket_timeout

__all__ = ["check_batching_layers", "check_channel_layers", "check_redis_socket_timeout"]


def check_channel_layers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when no channel layer is configured: ``broadcast()`` needs one."""
    if getattr(settings, "CHANNEL_LAYERS", None):
        return []
    return [
        Warning(
            "CHANNEL_LAYERS is not configured; broadcast() needs a channel layer.",
            hint="Add CHANNEL_LAYERS (e.g. channels.layers.InMemoryChannelLayer).",
            id="reznet_ws.W001",
        )
    ]


_CORE_LAYERS = ("channels_redis.core.RedisChannelLayer",)


def check_redis_socket_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when channels_redis core would block longer than redis-py lets a read wait.

    channels_redis's receive blocks in BZPOPMIN for 5 s; redis-py 8 gives every read a 5 s
    socket timeout by default, so under load receives fail with ``TimeoutError`` (and the
    consumer closes with 1011).
    """
    messages: list[CheckMessage] = []
    for alias, config in (getattr(settings, "CHANNEL_LAYERS", None) or {}).items():
        layer = config.get("CONFIG", {}).get("inner", config)  # look inside the batching layer
        if layer.get("BACKEND") not in _CORE_LAYERS:
            continue
        for host in layer.get("CONFIG", {}).get("hosts", []):
            timeout = (
                host.get("socket_timeout", default_socket_timeout())
                if isinstance(host, Mapping)
                else default_socket_timeout()
            )
            if timeout is not None and timeout <= 5:
                messages.append(
                    Warning(
                        f"CHANNEL_LAYERS[{alias!r}] uses channels_redis core with a Redis read "
                        f"timeout of {timeout} s, no longer than its 5 s blocking receive.",
                        hint='Give the host a longer timeout: {"address": "redis://...", '
                        '"socket_timeout": 15}.',
                        id="reznet_ws.W003",
                    )
                )
                break
    return messages


_KEYS = {"inner", "window", "max_batch", "max_buffer", "raise_errors"}


def _is_batching(backend: object) -> bool:
    from ..layers import BatchingChannelLayer

    try:
        cls = import_string(str(backend))
    except ImportError:
        return False  # Channels reports a BACKEND it cannot import when the layer is built
    return isinstance(cls, type) and issubclass(cls, BatchingChannelLayer)


def _check_inner(alias: str, inner: Any) -> list[CheckMessage]:
    where = f"CHANNEL_LAYERS[{alias!r}]['CONFIG']['inner']"
    if not isinstance(inner, Mapping) or "BACKEND" not in inner:
        return [
            Error(
                f"{where} must be a dict with a BACKEND (and optionally CONFIG).",
                hint='For example {"BACKEND": "channels_redis.core.RedisChannelLayer", '
                '"CONFIG": {"hosts": ["redis://127.0.0.1:6379"]}}.',
                id="reznet_ws.E040",
            )
        ]
    try:
        import_string(inner["BACKEND"])
    except ImportError as exc:
        return [
            Error(
                f"{where}['BACKEND'] cannot be imported: {exc}.",
                hint="Install the layer's package (pip install 'reznet-ws[redis]' for "
                "channels_redis) or fix the dotted path.",
                id="reznet_ws.E041",
            )
        ]
    if _is_batching(inner["BACKEND"]):
        return [
            Error(
                f"{where} is itself a BatchingChannelLayer.",
                hint="Wrap the real layer directly; batching twice only adds latency.",
                id="reznet_ws.E042",
            )
        ]
    return []


def _check_policy(alias: str, config: Mapping[str, Any]) -> list[CheckMessage]:
    from ..batching import BatchBuffer

    where = f"CHANNEL_LAYERS[{alias!r}]['CONFIG']"
    window = config.get("window", 0.05)
    max_batch = config.get("max_batch", 10)
    max_buffer = config.get("max_buffer", 10_000)
    try:
        BatchBuffer(window, max_batch, max_buffer)
    except ValueError as exc:
        return [Error(f"{where}: {exc}.", hint="See docs/batching-layer.md.", id="reznet_ws.E043")]
    messages: list[CheckMessage] = []
    if not isinstance(config.get("raise_errors", False), bool):
        messages.append(
            Error(f"{where}['raise_errors'] must be True or False.", id="reznet_ws.E045")
        )
    if max_batch == 1:
        messages.append(
            Warning(
                f"{where} disables batching (max_batch=1).",
                hint="Use the inner layer directly, or raise max_batch.",
                id="reznet_ws.W040",
            )
        )
    if max_buffer < max_batch:
        messages.append(
            Warning(
                f"{where}['max_buffer'] ({max_buffer}) is below max_batch ({max_batch}).",
                hint="A batch can never fill; set max_buffer to many times max_batch.",
                id="reznet_ws.W041",
            )
        )
    return messages


def check_batching_layers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check every ``CHANNEL_LAYERS`` entry whose BACKEND is a ``BatchingChannelLayer``."""
    messages: list[CheckMessage] = []
    for alias, entry in getattr(settings, "CHANNEL_LAYERS", {}).items():
        if not isinstance(entry, Mapping) or not _is_batching(entry.get("BACKEND", "")):
            continue
        config = entry.get("CONFIG", {})
        unknown = sorted(set(config) - _KEYS)
        if unknown:
            messages.append(
                Error(
                    f"CHANNEL_LAYERS[{alias!r}]['CONFIG'] has unknown keys: {', '.join(unknown)}.",
                    hint=f"Known keys: {', '.join(sorted(_KEYS))}. Options of the wrapped layer "
                    "go in CONFIG['inner']['CONFIG'].",
                    id="reznet_ws.E044",
                )
            )
        messages += _check_inner(alias, config.get("inner"))
        messages += _check_policy(alias, config)
    return messages
