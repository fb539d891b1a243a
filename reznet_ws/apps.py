"""App configuration: ``ready()`` registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ReznetWsConfig"]


class ReznetWsConfig(AppConfig):
    name = "reznet_ws"
    label = "reznet_ws"
    verbose_name = "WebSocket metrics"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Register every system check of :mod:`reznet_ws.checks` with its tags."""
        from django.core.checks import Tags, register

        from .checks import layers, schema, server, settings, stats

        register(settings.check_settings, Tags.compatibility)
        register(layers.check_channel_layers, Tags.compatibility)
        register(layers.check_redis_socket_timeout, Tags.compatibility)
        register(layers.check_batching_layers, Tags.compatibility)
        register(stats.check_stats_cache, Tags.caches, Tags.compatibility)
        register(stats.check_stats_layout, Tags.caches, Tags.compatibility)
        register(stats.check_stats_permissions, Tags.security)
        register(stats.check_stats_prometheus, Tags.compatibility)
        register(server.check_deflate_settings, Tags.compatibility)
        register(server.check_runserver_command, Tags.compatibility)
        register(server.check_inflate_limit, Tags.security)
        register(server.check_autobahn_version, Tags.security)
        register(server.check_twisted_internals, Tags.compatibility)
        register(server.check_autobahn_internals, Tags.compatibility)
        register(schema.check_schema_available, Tags.compatibility)
