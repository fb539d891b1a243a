"""reznet_ws's system checks, one module per concern; docs/checks.md lists every id.

* :mod:`.settings`: ``REZNET_WS`` itself (E001-E004, W002, W004);
* :mod:`.layers`: ``CHANNEL_LAYERS`` and ``BatchingChannelLayer`` entries (W001, W003, E04x, W04x);
* :mod:`.stats`: the stats cache, its layout, permissions and Prometheus (E02x, W02x, I020);
* :mod:`.server`: permessage-deflate, ``runserver``, Twisted and autobahn internals (E03x, W03x);
* :mod:`.schema`: the OpenAPI schema view (I050).

The modules define the checks; :meth:`reznet_ws.apps.ReznetWsConfig.ready` registers them.
Importing them is cheap: what a check needs beyond Django (autobahn, DRF, the layer classes) is
imported inside that check.
"""

from __future__ import annotations

from .layers import check_batching_layers, check_channel_layers, check_redis_socket_timeout
from .schema import check_schema_available
from .server import (
    check_autobahn_internals,
    check_autobahn_version,
    check_deflate_settings,
    check_inflate_limit,
    check_runserver_command,
    check_twisted_internals,
)
from .settings import check_settings
from .stats import (
    check_stats_cache,
    check_stats_layout,
    check_stats_permissions,
    check_stats_prometheus,
)

__all__ = [
    "check_autobahn_internals",
    "check_autobahn_version",
    "check_batching_layers",
    "check_channel_layers",
    "check_deflate_settings",
    "check_inflate_limit",
    "check_redis_socket_timeout",
    "check_runserver_command",
    "check_schema_available",
    "check_settings",
    "check_stats_cache",
    "check_stats_layout",
    "check_stats_permissions",
    "check_stats_prometheus",
    "check_twisted_internals",
]
