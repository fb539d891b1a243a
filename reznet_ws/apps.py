"""App configuration: ``ready()`` registers the system checks."""

from __future__ import annotations

import importlib

from django.apps import AppConfig

__all__ = ["ReznetWsConfig"]

_CHECK_MODULES = (
    "reznet_ws.checks",
    "reznet_ws.checks_layers",
    "reznet_ws.checks_stats",
    "reznet_ws.checks_server",
    "reznet_ws.checks_schema",
)


class ReznetWsConfig(AppConfig):
    name = "reznet_ws"
    label = "reznet_ws"
    verbose_name = "WebSocket metrics"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Import the check modules: each registers its checks on import."""
        for module in _CHECK_MODULES:
            importlib.import_module(module)
