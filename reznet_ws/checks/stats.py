"""System checks for the stats settings (``reznet_ws.E020``-``E029``, ``W020``-``W029``, ``I020``).

Every id is documented in docs/checks.md and docs/stats.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Warning
from django.utils.module_loading import import_string

from ..conf import get_config
from ..stats.prometheus import INSTALL_HINT, prometheus_available
from ..stats.store import StatsStore

__all__ = [
    "check_stats_cache",
    "check_stats_layout",
    "check_stats_permissions",
    "check_stats_prometheus",
]

_PER_PROCESS = {"django.core.cache.backends.locmem.LocMemCache"}
_DUMMY = {"django.core.cache.backends.dummy.DummyCache"}
# incr() is get-then-set in these backends: concurrent processes lose counts.
_NON_ATOMIC_INCR = {
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
}


def check_stats_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E020: the alias does not exist; W020-W022: the cache cannot share counts across processes."""
    config = get_config()
    if not config["STATS_ENABLED"]:
        return []
    alias = config["STATS_CACHE_ALIAS"]
    caches_setting = getattr(settings, "CACHES", {})
    if alias not in caches_setting:
        return [
            Error(
                f"REZNET_WS['STATS_CACHE_ALIAS'] is {alias!r}, which is not in CACHES.",
                hint=f"Add a {alias!r} cache to CACHES, or name an existing one.",
                id="reznet_ws.E020",
            )
        ]
    backend = caches_setting[alias].get("BACKEND", "")
    if backend in _PER_PROCESS:
        return [
            Warning(
                f"The stats cache {alias!r} is a per-process local-memory cache: every process "
                "counts on its own and the API shows only the process that answers.",
                hint="Use Django's RedisCache (or Memcached) for the stats in production.",
                id="reznet_ws.W020",
            )
        ]
    if backend in _DUMMY:
        return [
            Warning(
                f"The stats cache {alias!r} is a dummy cache: the stats are thrown away.",
                hint="Point STATS_CACHE_ALIAS at a real cache, or set STATS_ENABLED to False.",
                id="reznet_ws.W021",
            )
        ]
    if backend in _NON_ATOMIC_INCR:
        return [
            Warning(
                f"The stats cache {alias!r} ({backend.rsplit('.', 1)[-1]}) has no atomic incr(): "
                "counts from concurrent processes can be lost.",
                hint="Use Django's RedisCache (or Memcached) for the stats.",
                id="reznet_ws.W022",
            )
        ]
    return []


def check_stats_layout(
    app_configs: Any = None, store: StatsStore | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W023 / I020: the stats use the generic layout (not one atomic script per flush), and why.

    Silent for the caches W020-W022 already warn about. ``store`` is a test seam.
    """
    config = get_config()
    alias = config["STATS_CACHE_ALIAS"]
    if not config["STATS_ENABLED"] or alias not in getattr(settings, "CACHES", {}):
        return []
    if settings.CACHES[alias].get("BACKEND", "") in _PER_PROCESS | _DUMMY | _NON_ATOMIC_INCR:
        return []
    try:
        layout = (store or StatsStore(alias=alias)).get_layout()
    except Exception:  # a malformed LOCATION: the cache's own errors say more, at first use
        return []
    if layout.client is not None:
        return []
    if layout.degraded:
        return [
            Warning(
                f"The stats cache {alias!r} is a Redis cache, but {layout.reason}: the stats "
                "use the generic layout (one key per counter), whose flushes are not atomic.",
                hint="Use a Django release reznet-ws was tested with, or a newer reznet-ws; "
                "with django-redis, a non-sharded client class.",
                id="reznet_ws.W023",
            )
        ]
    return [
        Info(
            f"The stats cache {alias!r} uses the generic layout: {layout.reason}. Counts are "
            "exact across processes only if its incr() is atomic (Memcached's is), and a flush "
            "retried after a lost reply can count one increment twice.",
            hint="Django's RedisCache or django-redis gives one atomic script per flush.",
            id="reznet_ws.I020",
        )
    ]


def check_stats_permissions(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E021: a ``STATS_PERMISSION_CLASSES`` entry cannot be imported."""
    entries = get_config()["STATS_PERMISSION_CLASSES"]
    if isinstance(entries, str) or not hasattr(entries, "__iter__"):
        return [
            Error(
                "REZNET_WS['STATS_PERMISSION_CLASSES'] must be a list of permission classes.",
                hint='For example ["rest_framework.permissions.IsAdminUser"].',
                id="reznet_ws.E021",
            )
        ]
    errors: list[CheckMessage] = []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        try:
            import_string(entry)
        except ImportError as exc:
            errors.append(
                Error(
                    f"REZNET_WS['STATS_PERMISSION_CLASSES'] has {entry!r}, which cannot be "
                    f"imported: {exc}.",
                    id="reznet_ws.E021",
                )
            )
    return errors


def check_stats_prometheus(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E022: ``STATS_PROMETHEUS`` is on but ``prometheus_client`` is not installed."""
    if not get_config()["STATS_PROMETHEUS"] or prometheus_available():
        return []
    return [
        Error(
            "REZNET_WS['STATS_PROMETHEUS'] is on but prometheus_client is not installed.",
            hint=INSTALL_HINT,
            id="reznet_ws.E022",
        )
    ]
