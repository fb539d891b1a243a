"""Django settings of the soak benchmark's servers (``benchmarks/soak.py``).

One channels_redis core layer on the benchmark's own Redis, from the environment:

* ``SOAK_REDIS_URL``: the Redis (default ``redis://127.0.0.1:6379/0``);
* ``SOAK_PREFIX``: the layer's key prefix, unique per run.

Short Redis timeouts (3 s read, 1 s connect) so that an outage is seen within seconds.
"""

from __future__ import annotations

import os

SECRET_KEY = "reznet-ws-soak-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "reznet_ws",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ASGI_APPLICATION = "benchmarks.soak_app.application"

SOAK_REDIS_URL = os.environ.get("SOAK_REDIS_URL") or "redis://127.0.0.1:6379/0"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": SOAK_REDIS_URL, "socket_timeout": 3, "socket_connect_timeout": 1}
            ],
            "prefix": os.environ.get("SOAK_PREFIX", "soak"),
        },
    }
}

REZNET_WS: dict[str, object] = {}
