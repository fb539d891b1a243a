"""System check for the OpenAPI schema view (``reznet_ws.I050``).

Registered on import; ``apps.py`` imports this module. The id is documented in docs/checks.md.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Info, Tags, register

__all__ = ["check_schema_available"]


@register(Tags.compatibility)
def check_schema_available(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """I050: drf-spectacular is not installed, so the ``schema`` endpoint is off."""
    from .api.views import SCHEMA_INSTALL_HINT, schema_available

    if schema_available():
        return []
    return [
        Info(
            "drf-spectacular is not installed: the OpenAPI schema view of reznet_ws.api.urls "
            "is off (it answers 501).",
            hint=f"{SCHEMA_INSTALL_HINT} for the schema.",
            id="reznet_ws.I050",
        )
    ]
