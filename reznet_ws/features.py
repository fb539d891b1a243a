"""The feature flags: what ``connection_established`` announces and ``health`` reports.

One function builds the flags for both: a connection's (its protocol and whether it negotiated
permessage-deflate) and the server's (what its settings let a v2 connection get).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conf import get_config

__all__ = ["feature_flags", "server_features"]


def feature_flags(*, optimized: bool, gzip: bool, batching: bool, deflate: bool) -> dict[str, bool]:
    """Return the feature flags; ``gzip`` and ``batching`` count only when ``optimized``.

    ``optimized`` is protocol v2 (the field map, timestamps and the payload encoding), ``deflate``
    permessage-deflate.
    """
    return {
        "payload_optimization": optimized,
        "field_abbreviation": optimized,
        "timestamps": optimized,
        "gzip_compression": optimized and gzip,
        "message_batching": optimized and batching,
        "permessage_deflate": deflate,
    }


def server_features(config: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Return the features the settings switch on (``config``: :func:`~reznet_ws.conf.get_config`).

    Not one connection's: a v1 client gets none of the payload features, and a connection that
    negotiates permessage-deflate gets no gzip.
    """
    config = config if config is not None else get_config()
    return {
        **feature_flags(
            optimized=bool(config["OPTIMIZE"]),
            gzip=True,
            batching=config["BATCH_SIZE"] > 1,
            deflate=bool(config["PERMESSAGE_DEFLATE"]),
        ),
        "stats": bool(config["STATS_ENABLED"]),
    }
