"""System checks of the example project: it must not run in the open on its development key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning

__all__ = ["check_secret_key"]


def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when DEBUG is off and SECRET_KEY is still the public development fallback.

    Registered by ``ChatConfig.ready()``.
    """
    from example_project.settings import DEVELOPMENT_SECRET_KEY

    if settings.DEBUG or settings.SECRET_KEY != DEVELOPMENT_SECRET_KEY:
        return []
    return [
        Warning(
            "SECRET_KEY is the example project's development fallback, which is public, "
            "and DEBUG is off.",
            hint="Set DJANGO_SECRET_KEY to a long random value (for instance the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or "
            "DJANGO_DEBUG=1 on a development machine.",
            id="chat.W001",
        )
    ]
