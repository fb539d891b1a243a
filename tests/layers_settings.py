"""Settings of the daphne processes of tests/test_layers_daphne.py (see tests/layers_app.py).

The test passes the inner layer, the Redis URL and a key prefix of its own through the environment.
"""

from __future__ import annotations

import os

SECRET_KEY = "reznet-ws-layers-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, object] = {}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "reznet_ws.layers.BatchingChannelLayer",
        "CONFIG": {
            "inner": {
                "BACKEND": os.environ.get(
                    "REZNET_LAYERS_INNER", "channels_redis.core.RedisChannelLayer"
                ),
                "CONFIG": {
                    "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
                    "prefix": os.environ.get("REZNET_LAYERS_PREFIX", "asgi"),
                },
            },
            "window": 0.05,
            "max_batch": 10,
        },
    }
}
