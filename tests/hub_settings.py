"""Settings of the server processes of tests/test_hub_faults.py (see tests/hub_app.py).

The test chooses the channel layer through the environment: ``HUB_LAYER`` (``inmemory``,
``redis-core``, ``redis-pubsub``, ``batching-core``, ``batching-pubsub``), ``REDIS_URL``,
``HUB_GROUP_EXPIRY`` (seconds) and ``REZNET_WS_JSON`` (extra ``REZNET_WS`` keys).
"""

from __future__ import annotations

import json
import os
from typing import Any

SECRET_KEY = "reznet-ws-hub-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "reznet_ws",
]
DATABASES: dict[str, Any] = {}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
ASGI_APPLICATION = "tests.hub_app.application"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"reznet_ws": {"handlers": ["console"], "level": "WARNING"}},
}


def _layer() -> dict[str, Any]:
    kind = os.environ.get("HUB_LAYER", "inmemory")
    expiry = int(os.environ.get("HUB_GROUP_EXPIRY", "86400"))
    if kind == "inmemory":
        return {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    redis_config: dict[str, Any] = {
        # The timeouts bound a hang only. Reads must outlast channels_redis's blocking pop (5 s):
        # below that, every receive idle that long fails with a timeout, reported as a layer
        # fault, and a message Redis pops just as the client gives up may be lost.
        "hosts": [
            {
                "address": os.environ["REDIS_URL"],
                "socket_timeout": 30,
                "socket_connect_timeout": 10,
            }
        ],
        "prefix": os.environ.get("HUB_PREFIX", "hubtest"),
    }
    core = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {**redis_config, "group_expiry": expiry},
    }
    pubsub = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": redis_config}
    inner = {"redis-core": core, "redis-pubsub": pubsub, "batching-core": core}.get(kind, pubsub)
    if kind.startswith("batching"):
        return {"BACKEND": "reznet_ws.layers.BatchingChannelLayer", "CONFIG": {"inner": inner}}
    return inner


CHANNEL_LAYERS = {"default": _layer()}
REZNET_WS: dict[str, Any] = json.loads(os.environ.get("REZNET_WS_JSON", "{}"))
