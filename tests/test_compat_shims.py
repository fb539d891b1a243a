"""Each private API of another project sits behind one version-checked shim with a public fallback.

Django's ``RedisCache._cache`` (reznet_ws.stats.store), autobahn's ``_perMessageCompress``
(reznet_ws.server.autobahn_compat) and Twisted's write buffer (reznet_ws.server.twisted_compat):
every fallback is reached through a seam (a version or a cache object given to the shim) and
shown to work.
"""

from __future__ import annotations

import configparser
import logging
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from autobahn.websocket.compress import PerMessageDeflate
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from django.utils.functional import cached_property

from reznet_ws.checks.server import check_autobahn_internals, check_twisted_internals
from reznet_ws.checks.stats import check_stats_layout
from reznet_ws.server import autobahn_compat, twisted_compat
from reznet_ws.server.deflate import DeflateOptions, LevelledPerMessageDeflate, negotiate
from reznet_ws.stats import StatsStore
from reznet_ws.stats.store import TESTED_DJANGO_RELEASES, django_redis_cache_client

ROOT = Path(__file__).resolve().parent.parent
UNKNOWN_DJANGO = (99, 0)


class _WithoutGetClient:
    """Django's RedisCacheClient without ``get_client`` (as changed internals might have it)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "get_client":
            raise AttributeError(name)
        return getattr(self._inner, name)


class ChangedRedisCache(RedisCache):
    """Django's RedisCache whose ``_cache`` no longer hands out redis-py clients."""

    @cached_property
    def _cache(self) -> Any:
        return _WithoutGetClient(RedisCache._cache.func(self))  # type: ignore[attr-defined]


class PlainCache(LocMemCache):
    """A cache reznet-ws knows nothing about (not one of the backends W020-W022 name)."""


def _stats_caches(backend: str, location: str = "") -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "stats": {"BACKEND": backend, "LOCATION": location, "KEY_PREFIX": _prefix()},
    }


def _prefix() -> str:
    return f"reznet-test-{uuid.uuid4().hex[:12]}"


# ----------------------------------------------------------------- Django's RedisCache._cache


def test_tested_django_releases_are_the_classifiers() -> None:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    prefix = "Framework :: Django :: "
    classifiers = parser["metadata"]["classifiers"].split("\n")
    claimed = {c.removeprefix(prefix) for c in classifiers if c.startswith(prefix)}
    claimed = {c for c in claimed if c.replace(".", "").isdigit()}
    assert {f"{major}.{minor}" for major, minor in TESTED_DJANGO_RELEASES} == claimed


def test_the_redis_cache_shim_answers_only_for_what_it_knows() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", {})
    [release] = [r for r in TESTED_DJANGO_RELEASES if r == _installed_release()]
    assert django_redis_cache_client(cache, release) is not None  # builds a client, no I/O
    assert django_redis_cache_client(cache, UNKNOWN_DJANGO) is None
    assert (
        django_redis_cache_client(ChangedRedisCache("redis://127.0.0.1:1/0", {}), release) is None
    )


def _installed_release() -> tuple[int, int]:
    import django

    return (django.VERSION[0], django.VERSION[1])


@pytest.fixture
def stats_on_redis(redis_url: str) -> Iterator[str]:
    """Django's RedisCache as the stats cache under a fresh KEY_PREFIX; keys deleted after."""
    import redis

    settings = _stats_caches("django.core.cache.backends.redis.RedisCache", redis_url)
    key_prefix = settings["stats"]["KEY_PREFIX"]
    with override_settings(CACHES=settings, REZNET_WS={"STATS_CACHE_ALIAS": "stats"}):
        yield key_prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{key_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
def test_an_unknown_django_falls_back_to_the_generic_layout(
    stats_on_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reznet_ws.stats")
    store = StatsStore(alias="stats")
    store.django_release = UNKNOWN_DJANGO
    layout = store.get_layout()
    assert layout.client is None and layout.degraded and "99.0" in layout.reason

    assert store.apply({"total_messages": 3}, {10: (3, 300, 120)}, None, ("p", 1)) is True
    assert store.apply({"total_messages": 3}, {10: (3, 300, 120)}, None, ("p", 1)) is False
    store.apply({"total_messages": 2}, {}, ("p", {"v2": 1}, 60.0), ("p", 2))
    snapshot = store.read([10])
    assert snapshot.counters == {"total_messages": 5}
    assert snapshot.minutes == {10: {"messages": 3, "original": 300, "optimized": 120}}
    assert snapshot.processes == {"p": {"v2": 1}}
    # Keys of their own: a process on the native layout (a rolling upgrade) reads and writes its
    # own keys beside them, without type errors.
    native = StatsStore(alias="stats")
    assert native.get_layout().client is not None
    assert native.read([10]).counters == {}
    native.apply({"total_messages": 1}, {}, ("n", {"v2": 2}, 60.0), ("n", 1))
    assert native.read([]).counters == {"total_messages": 1}
    assert store.read([]).counters == {"total_messages": 5}

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per process and reason, not per call
    assert "generic layout" in warnings[0] and "Django 99.0" in warnings[0]

    [message] = check_stats_layout(store=store)
    assert message.id == "reznet_ws.W023"
    assert check_stats_layout() == []  # the installed Django is a tested one


@pytest.mark.redis
def test_a_redis_cache_without_its_internals_falls_back(redis_url: str) -> None:
    import redis

    key_prefix = _prefix()
    cache = ChangedRedisCache(redis_url, {"KEY_PREFIX": key_prefix})
    store = StatsStore(alias="stats", prefix="reznet_ws", cache=cache)
    layout = store.get_layout()
    assert layout.degraded and "_cache.get_client()" in layout.reason
    store.apply({"total_messages": 4}, {}, None, ("p", 1))
    assert store.read([]).counters == {"total_messages": 4}
    # Only this test's keys: cache.clear() would FLUSHDB the Redis other test runs share.
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{key_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_other_caches_are_reported_as_generic_once_and_for_all() -> None:
    backend = f"{__name__}.PlainCache"
    with override_settings(CACHES=_stats_caches(backend), REZNET_WS={"STATS_CACHE_ALIAS": "stats"}):
        [message] = check_stats_layout()
        assert message.id == "reznet_ws.I020"
        assert "PlainCache" in message.msg
    locmem = _stats_caches("django.core.cache.backends.locmem.LocMemCache")
    with override_settings(CACHES=locmem, REZNET_WS={"STATS_CACHE_ALIAS": "stats"}):
        assert check_stats_layout() == []  # W020 says it already
    caches.close_all()


# ------------------------------------------------------------- autobahn's _perMessageCompress


def _autobahn_processor() -> tuple[PerMessageDeflate, Any]:
    answer = negotiate(
        DeflateOptions.from_config(
            {
                "PERMESSAGE_DEFLATE": True,
                "DEFLATE_LEVEL": 9,
                "DEFLATE_SERVER_MAX_WINDOW_BITS": 15,
                "DEFLATE_CLIENT_MAX_WINDOW_BITS": 15,
                "DEFLATE_MEM_LEVEL": 8,
                "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER": False,
                "DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER": False,
            }
        ),
        [("permessage-deflate", {"client_max_window_bits": [True]})],
        0,
    )
    assert answer is not None
    return PerMessageDeflate.create_from_offer_accept(True, answer.accept), answer.accept


def _round_trip(pmce: PerMessageDeflate, payload: bytes) -> bytes:
    pmce.start_compress_message()
    data = pmce.compress_message_data(payload) + pmce.end_compress_message()
    client = PerMessageDeflate(False, False, False, 15, 15, 8)
    client.start_decompress_message()
    out = client.decompress_message_data(data)
    client.end_decompress_message()
    assert out == payload
    return bytes(data)


def test_autobahn_versions() -> None:
    assert autobahn_compat.levels_supported()  # the installed autobahn is a tested one
    assert autobahn_compat.levels_supported("26.7.1")
    assert not autobahn_compat.levels_supported("99.1.0")
    assert not autobahn_compat.levels_supported("")


def test_the_levelled_compressor_replaces_autobahns_on_a_known_autobahn() -> None:
    ours, accept = _autobahn_processor()
    protocol = SimpleNamespace(_perMessageCompress=ours, websocket_extensions_in_use=["x", ours])
    levelled = LevelledPerMessageDeflate.from_accept(accept, 0)
    assert autobahn_compat.use_compressor(protocol, levelled, "26.10.2")
    assert protocol._perMessageCompress is levelled
    assert protocol.websocket_extensions_in_use == ["x", levelled]
    payload = b"abc" * 1000
    assert len(_round_trip(levelled, payload)) > len(payload)  # level 0: stored blocks


@pytest.mark.parametrize(
    ("version", "attributes"),
    [
        ("99.1.0", True),  # an autobahn this shim was not written for
        ("26.10.2", False),  # a known version whose protocol keeps the processor elsewhere
    ],
)
def test_an_unknown_autobahn_keeps_its_own_compressor(
    version: str, attributes: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reznet_ws.server")
    own, accept = _autobahn_processor()
    protocol = SimpleNamespace(websocket_extensions_in_use=[own])
    if attributes:
        protocol._perMessageCompress = own
    levelled = LevelledPerMessageDeflate.from_accept(accept, 0)
    assert autobahn_compat.use_compressor(protocol, levelled, version) is False
    assert protocol.websocket_extensions_in_use == [own]
    assert getattr(protocol, "_perMessageCompress", own) is own
    # The fallback still compresses: autobahn's level (zlib's default), not level 0.
    payload = b"abc" * 1000
    expected = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
    data = _round_trip(own, payload)
    assert data == (expected.compress(payload) + expected.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert any("DEFLATE_LEVEL is not applied" in r.getMessage() for r in caplog.records) or (
        version == "26.10.2"  # logged once per version: the first parameter logged it
    )


def test_check_w034_when_the_level_cannot_be_set() -> None:
    with override_settings(REZNET_WS={"DEFLATE_LEVEL": 9}):
        [message] = check_autobahn_internals(autobahn_version="99.1.0")
        assert message.id == "reznet_ws.W034"
        assert check_autobahn_internals() == []
    with override_settings(REZNET_WS={"DEFLATE_LEVEL": 6}):  # autobahn's own: nothing is lost
        assert check_autobahn_internals(autobahn_version="99.1.0") == []
    with override_settings(REZNET_WS={"PERMESSAGE_DEFLATE": False, "DEFLATE_LEVEL": 9}):
        assert check_autobahn_internals(autobahn_version="99.1.0") == []


# ------------------------------------------------------------------- Twisted's write buffer


def _tcp_transport() -> SimpleNamespace:
    return SimpleNamespace(
        TLS=False, dataBuffer=b"abcdef", offset=2, _tempDataBuffer=[b"gh"], _tempDataLen=2
    )


def test_twisted_shim_falls_back_on_an_unknown_twisted() -> None:
    transport = _tcp_transport()
    assert twisted_compat.version_supported()  # the installed Twisted is a tested one
    assert twisted_compat.supported(transport, "26.10.0")
    assert twisted_compat.unsent_bytes(transport) == 6
    assert not twisted_compat.supported(transport, "99.1.0")
    assert not twisted_compat.supported(SimpleNamespace(TLS=False), "26.10.0")


def test_check_w033_when_backpressure_cannot_read_the_write_buffer() -> None:
    [message] = check_twisted_internals(twisted_version="99.1.0")
    assert message.id == "reznet_ws.W033"
    assert "outbox queue" in message.msg and "4009" in message.msg
    assert check_twisted_internals() == []
