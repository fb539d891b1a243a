"""Django settings of the load benchmark's server (``benchmarks/bench_app.py``).

The channel layer comes from the environment, so one settings module serves every run:

* ``WSBENCH_LAYER``: ``inmemory`` (default), ``redis`` (``channels_redis.core``) or
  ``redis-pubsub`` (``channels_redis.pubsub``);
* ``REDIS_URL``: the Redis of the two Redis layers (default ``redis://127.0.0.1:6379/0``);
* ``WSBENCH_PREFIX``: the layers' key prefix, unique per run so that runs sharing a Redis with
  other processes never see each other's messages;
* ``WSBENCH_TOKEN``: when set, the control socket needs ``?token=<it>``;
* ``WSBENCH_REZNET_WS``: a JSON object of ``REZNET_WS`` settings (``wsbench --setting``).

Everything else is the default of a small Channels project: no database access on the WebSocket
path, the stats of ``reznet_ws`` on (its default) over a local-memory cache.
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "reznet-ws-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = ["reznet_ws", "channels"]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ASGI_APPLICATION = "benchmarks.bench_app.application"

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
_LAYER = os.environ.get("WSBENCH_LAYER", "inmemory")
_PREFIX = os.environ.get("WSBENCH_PREFIX", "wsbench")
_LAYERS = {
    "inmemory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    "redis": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 times reads out after 5 s, as long as channels_redis blocks in BZPOPMIN.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": _PREFIX},
    },
    "redis-pubsub": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": _PREFIX},
    },
}
if _LAYER not in _LAYERS:
    raise ValueError(f"WSBENCH_LAYER must be one of {sorted(_LAYERS)}, not {_LAYER!r}")
CHANNEL_LAYERS = {"default": _LAYERS[_LAYER]}

#: Settings given to ``wsbench --setting KEY=JSON`` (a JSON object).
REZNET_WS: dict[str, object] = json.loads(os.environ.get("WSBENCH_REZNET_WS") or "{}")
# One process per run and nobody reads the stats: the per-process cache warning does not apply.
SILENCED_SYSTEM_CHECKS = ["reznet_ws.W020"]
