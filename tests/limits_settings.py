"""Settings of the daphne process of the limits and reserved-name wire tests (tests/limits_app.py).

The limits are tight so that a test reaches them in a few messages, and the rate so low that no
token comes back while a test runs: what is dispatched does not depend on timing.
"""

from __future__ import annotations

SECRET_KEY = "reznet-ws-limits-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, object] = {}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

REZNET_WS = {
    "MAX_BATCH_EVENTS": 5,
    "INCOMING_RATE": 0.001,
    "INCOMING_BURST": 5,
    "MAX_PROTOCOL_ERRORS": 4,
}
