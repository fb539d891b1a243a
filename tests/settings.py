"""Django settings of the library's test suite: its own apps, URLs and ASGI app, in-memory parts.

Nothing here comes from the example project, whose own tests are ``tests/test_example_*.py``.
A server process of the tests (``daphne tests.asgi:application``) uses these settings too;
``REZNET_TEST_LAYER_URL`` puts its channel layer on that Redis (the multi-process tests), under
the key prefix ``REZNET_TEST_LAYER_PREFIX`` (channels_redis's ``asgi`` by default).
"""

from __future__ import annotations

import os

SECRET_KEY = "reznet-ws-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    # reznet_ws before daphne: its runserver adds permessage-deflate to daphne's.
    "reznet_ws",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"
ASGI_APPLICATION = "tests.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_LAYER_URL = os.environ.get("REZNET_TEST_LAYER_URL")
if _LAYER_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": _LAYER_URL, "socket_timeout": 15}],
                "prefix": os.environ.get("REZNET_TEST_LAYER_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_URL = "/admin/login/"
SILENCED_SYSTEM_CHECKS: list[str] = []
LOGGING = {"version": 1, "disable_existing_loggers": False}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REZNET_WS: dict[str, object] = {}
