"""The example project is safe to copy: DEBUG off, a secret key from the environment (with a check
for the public fallback), clickjacking protection, Redis timeouts, and the demo login made only by
``demo_setup``.

The settings module is executed afresh under a chosen environment (``runpy``), without touching
the settings of the running tests; the commands run in processes of their own, on the example's
real settings.
"""

from __future__ import annotations

import os
import runpy
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from example_project.chat.checks import check_secret_key
from reznet_ws.checks import check_redis_socket_timeout

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "example_project" / "settings.py"
_OURS = ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "REDIS_URL")


def example_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Return the example's settings as they come out under ``env`` (and nothing else set)."""
    for name in _OURS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    s = example_settings(monkeypatch)
    assert s["DEBUG"] is False
    assert s["SECRET_KEY"] == s["DEVELOPMENT_SECRET_KEY"]
    assert {"127.0.0.1", "localhost"} <= set(s["ALLOWED_HOSTS"])
    assert "*" not in s["ALLOWED_HOSTS"]
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in s["MIDDLEWARE"]
    assert s["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")


def test_the_environment_switches_debug_and_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    s = example_settings(monkeypatch, DJANGO_DEBUG="1", DJANGO_SECRET_KEY="k" * 50)
    assert s["DEBUG"] is True
    assert s["SECRET_KEY"] == "k" * 50
    assert example_settings(monkeypatch, DJANGO_DEBUG="0")["DEBUG"] is False
    hosts = example_settings(monkeypatch, DJANGO_ALLOWED_HOSTS="chat.example.com, localhost")
    assert hosts["ALLOWED_HOSTS"] == ["chat.example.com", "localhost"]


def test_redis_connections_have_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    s = example_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")
    cache = s["CACHES"]["default"]
    assert cache["OPTIONS"]["socket_connect_timeout"] > 0
    assert cache["OPTIONS"]["socket_timeout"] > 0
    # Django hands the options to redis-py's pool (no connection is made here).
    client = RedisCache(cache["LOCATION"], cache)._cache.get_client(write=True)
    assert (
        client.connection_pool.connection_kwargs["socket_timeout"]
        == cache["OPTIONS"]["socket_timeout"]
    )
    [host] = s["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"]
    assert host["socket_connect_timeout"] > 0
    assert host["socket_timeout"] > 5  # longer than channels_redis's blocking receive
    with override_settings(CHANNEL_LAYERS=s["CHANNEL_LAYERS"]):
        assert check_redis_socket_timeout() == []


def test_the_check_warns_about_the_public_key_with_debug_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fallback = example_settings(monkeypatch)["DEVELOPMENT_SECRET_KEY"]
    with override_settings(DEBUG=False, SECRET_KEY=fallback):
        assert [m.id for m in check_secret_key()] == ["chat.W001"]
    with override_settings(DEBUG=True, SECRET_KEY=fallback):
        assert check_secret_key() == []
    with override_settings(DEBUG=False, SECRET_KEY="k" * 50):
        assert check_secret_key() == []


def _manage(db: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in _OURS}
    full_env.update(DJANGO_SETTINGS_MODULE="example_project.settings", EXAMPLE_DB=str(db), **env)
    done = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _admins(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        query = "SELECT COUNT(*) FROM auth_user WHERE username = 'admin'"
        return int(connection.execute(query).fetchone()[0])


def test_only_demo_setup_creates_the_demo_login(tmp_path: Path) -> None:
    db = tmp_path / "example.sqlite3"
    migrated = _manage(db, "migrate", "--noinput")
    assert "chat.W001" in migrated.stderr  # the registered check runs with the real settings
    assert _admins(db) == 0

    created = _manage(db, "demo_setup")
    assert _admins(db) == 1
    assert "Created the demo superuser admin with the password admin" in created.stdout
    assert "DEBUG is off: delete the user admin" in created.stdout

    again = _manage(db, "demo_setup", DJANGO_DEBUG="1", DJANGO_SECRET_KEY="k" * 50)
    assert "The demo superuser admin exists" in again.stdout
    assert "DEBUG is off" not in again.stdout
    assert "chat.W001" not in again.stderr
    assert _admins(db) == 1
