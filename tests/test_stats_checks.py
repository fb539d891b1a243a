"""System checks of the stats settings (reznet_ws.E020-E029, W020-W029)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from reznet_ws.checks.stats import (
    check_stats_cache,
    check_stats_permissions,
    check_stats_prometheus,
)

REDIS = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:6379/0",
}


def _ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("django.core.cache.backends.redis.RedisCache", []),
        ("django.core.cache.backends.memcached.PyMemcacheCache", []),
        ("django.core.cache.backends.locmem.LocMemCache", ["reznet_ws.W020"]),
        ("django.core.cache.backends.dummy.DummyCache", ["reznet_ws.W021"]),
        ("django.core.cache.backends.filebased.FileBasedCache", ["reznet_ws.W022"]),
        ("django.core.cache.backends.db.DatabaseCache", ["reznet_ws.W022"]),
    ],
)
def test_cache_backend_warnings(backend: str, expected: list[str]) -> None:
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": "x"}}):
        messages = check_stats_cache()
    assert _ids(messages) == expected
    assert all(m.level == checks.WARNING and m.hint for m in messages)


def test_missing_alias_is_an_error() -> None:
    with override_settings(CACHES={"default": REDIS}, REZNET_WS={"STATS_CACHE_ALIAS": "stats"}):
        [error] = check_stats_cache()
    assert error.id == "reznet_ws.E020" and error.level == checks.ERROR
    assert "'stats'" in error.msg


def test_no_cache_checks_when_stats_are_off() -> None:
    config = {"STATS_ENABLED": False, "STATS_CACHE_ALIAS": "nope"}
    with override_settings(REZNET_WS=config):
        assert check_stats_cache() == []


def test_permission_classes_must_import() -> None:
    bad = {
        "STATS_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser", "nowhere.Nothing"]
    }
    with override_settings(REZNET_WS=bad):
        assert _ids(check_stats_permissions()) == ["reznet_ws.E021"]
    with override_settings(REZNET_WS={"STATS_PERMISSION_CLASSES": "x.Y"}):
        assert _ids(check_stats_permissions()) == ["reznet_ws.E021"]
    assert check_stats_permissions() == []


def test_prometheus_check_only_when_enabled() -> None:
    assert check_stats_prometheus() == []
    with override_settings(REZNET_WS={"STATS_PROMETHEUS": True}):
        assert check_stats_prometheus() == []  # prometheus_client is installed here


def test_checks_are_registered() -> None:
    registered = checks.registry.registry.get_checks()
    for check in (check_stats_cache, check_stats_permissions, check_stats_prometheus):
        assert check in registered
