"""Settings for the permessage-deflate server tests: the test settings serving tests.deflate_app.

``REZNET_TEST_DAPHNE_FIRST=1`` lists ``daphne`` before ``reznet_ws`` (the order check W030 warns
about); ``REZNET_TEST_DEFLATE_OFF=1`` sets ``PERMESSAGE_DEFLATE`` to False.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _APPS

ROOT_URLCONF = "tests.deflate_app"
ASGI_APPLICATION = "tests.deflate_app.application"

if os.environ.get("REZNET_TEST_DAPHNE_FIRST"):
    INSTALLED_APPS = ["daphne", *(app for app in _APPS if app != "daphne")]

if os.environ.get("REZNET_TEST_DEFLATE_OFF"):
    REZNET_WS = {"PERMESSAGE_DEFLATE": False}
