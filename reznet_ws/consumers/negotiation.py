"""What a connection agrees on at the handshake: protocol version, features, the field map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ..codec import SUBPROTOCOL, FieldMap

__all__ = [
    "DEFLATE_SCOPE_KEY",
    "client_map_hash",
    "connection_features",
    "connection_info",
    "offered_version",
    "uses_deflate",
]

#: Scope extension ``reznet-daphne`` sets on connections that negotiated permessage-deflate.
DEFLATE_SCOPE_KEY = "reznet.permessage_deflate"


def offered_version(scope: Mapping[str, Any], optimize: bool) -> int:
    """Return 2 when the client offered ``reznet.v2`` and optimization is on, else 1."""
    offered = scope.get("subprotocols") or []
    return 2 if optimize and SUBPROTOCOL in offered else 1


def uses_deflate(scope: Mapping[str, Any]) -> bool:
    """Return True when the connection negotiated permessage-deflate (no app-level gzip)."""
    return DEFLATE_SCOPE_KEY in (scope.get("extensions") or {})


def connection_features(version: int, deflate: bool) -> dict[str, bool]:
    """Return the features announced in ``connection_established``."""
    v2 = version == 2
    return {
        "payload_optimization": v2,
        "field_abbreviation": v2,
        "timestamps": v2,
        "gzip_compression": v2 and not deflate,
        "message_batching": v2,
        "permessage_deflate": deflate,
    }


def client_map_hash(scope: Mapping[str, Any]) -> str | None:
    """Return the field-map hash the client cached (``?reznet_map=``), if it sent one."""
    raw = scope.get("query_string", b"")
    query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    values = query.get("reznet_map")
    return values[-1] if values else None


def connection_info(
    field_map: FieldMap, features: Mapping[str, bool], cached_hash: str | None
) -> dict[str, Any]:
    """Return the data of ``connection_established``; the map only when the client lacks it."""
    info: dict[str, Any] = {
        "version": 2,
        "protocol": SUBPROTOCOL,
        "features": dict(features),
        "map_hash": field_map.hash,
    }
    if cached_hash != field_map.hash:
        info["field_map"] = dict(field_map.mapping)
        info["timestamp_fields"] = sorted(field_map.timestamp_fields)
    return info
