"""Settings for the server-edge and shutdown tests: the test settings serving tests.edges_app."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.edges_app"
ASGI_APPLICATION = "tests.edges_app.application"
#: Long enough that a batched event is still pending when the test stops the server.
REZNET_WS = {"BATCH_WINDOW": 60.0}
