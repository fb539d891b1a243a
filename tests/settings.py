"""Django settings for the test suite: the example project's, on in-memory parts."""

from __future__ import annotations

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS

SECRET_KEY = "reznet-ws-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "example_project.chat"]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
SILENCED_SYSTEM_CHECKS: list[str] = []
LOGGING = {"version": 1, "disable_existing_loggers": False}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REZNET_WS: dict[str, object] = {}
