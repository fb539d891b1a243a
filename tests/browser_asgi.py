"""The example project plus its static files, for serving it with ``daphne`` / ``reznet-daphne``.

``manage.py runserver`` serves static files itself; the production-style servers do not (a real
deployment puts them behind a web server or WhiteNoise). The browser tests that run
``reznet-daphne`` serve this module so the page can load its JavaScript.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from example_project.asgi import application as example_application
from example_project.asgi import django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": example_application.application_mapping["websocket"],
    }
)
