"""Check of the OpenAPI schema view: is drf-spectacular installed (``reznet_ws.I050``)?

docs/checks.md lists the id. DRF and the API views are imported inside the check.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Info

__all__ = ["check_schema_available"]


def check_schema_available(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """I050: drf-spectacular is not installed, so the ``schema`` endpoint is off."""
    from ..api.views import SCHEMA_INSTALL_HINT, schema_available

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
