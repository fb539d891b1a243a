"""Settings of the example project: embedded defaults, Redis when REDIS_URL is set.

Safe to copy as a starting point: DEBUG is off unless ``DJANGO_DEBUG=1``, the secret key comes
from ``DJANGO_SECRET_KEY`` (the development fallback below is public, and the check
``chat.W001`` warns when it is used with DEBUG off), and every Redis connection has timeouts.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
#: DEVELOPMENT ONLY: this key is public (it is in the repository). Set DJANGO_SECRET_KEY anywhere
#: else; the system check chat.W001 warns when this fallback is used with DEBUG off.
DEVELOPMENT_SECRET_KEY = "django-insecure-reznet-ws-example-development-only-do-not-deploy"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEVELOPMENT_SECRET_KEY
DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if host.strip()
]
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
    "example_project.chat",
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

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", str(BASE_DIR / "db.sqlite3")),
        # Consumers, agents and views write at once: writers queue for the lock (up to 20 s)
        # instead of failing with "database is locked" when a transaction upgrades its lock.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that stops answering fails a cache call within a second instead of
            # holding a request (or the stats flush) for as long as the kernel keeps the socket.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": 1,
                        # channels_redis blocks in BZPOPMIN for 5 s, and redis-py 8 times reads
                        # out after 5 s: give reads a longer timeout (check reznet_ws.W003).
                        "socket_timeout": 15,
                    }
                ]
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # One process: the per-process cache is correct here.
    SILENCED_SYSTEM_CHECKS = ["reznet_ws.W020"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    # POST /api/chat/channels/<channel_id>/messages/ is open to guests, as the chat page is:
    # each user (or address, for guests) may call it this often.
    "DEFAULT_THROTTLE_RATES": {"chat_messages": "60/minute"},
}

REZNET_WS = {
    "EXTRA_FIELDS": {"channel_name": "chnm", "chunk_index": "cix"},
    # The agent's profile inside its messages goes once per connection (docs/deltas.md).
    "ENTITIES": {"agent": "agent_id"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"reznet_ws": {"handlers": ["console"], "level": "INFO"}},
}
