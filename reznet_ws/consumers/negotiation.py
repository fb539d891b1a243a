"""What a connection agrees on at the handshake: protocol version, features, the field map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ..codec import SUBPROTOCOL, FieldMap
from ..codec.msgpack_frames import JSON, MSGPACK, MSGPACK_SUBPROTOCOL, msgpack_available

__all__ = [
    "DEFLATE_SCOPE_KEY",
    "client_map_hash",
    "connection_features",
    "connection_info",
    "offered_encoding",
    "offered_version",
    "prepared_deflate",
    "subprotocol_for",
    "uses_deflate",
]

#: Scope extension ``reznet-daphne`` sets on connections that negotiated permessage-deflate.
DEFLATE_SCOPE_KEY = "reznet.permessage_deflate"


def offered_version(scope: Mapping[str, Any], optimize: bool) -> int:
    """Return 2 when the client offered ``reznet.v2`` (or ``reznet.v2.msgpack``, with msgpack
    installed) and optimization is on, else 1."""
    offered = scope.get("subprotocols") or []
    return 2 if optimize and (SUBPROTOCOL in offered or _msgpack_offered(offered)) else 1


# -- the MessagePack encoding (docs/protocol.md section 7) ---------------------------------------


def _msgpack_offered(offered: Any) -> bool:
    return MSGPACK_SUBPROTOCOL in offered and msgpack_available()


def offered_encoding(scope: Mapping[str, Any], prefer_msgpack: bool) -> str:
    """Return the encoding of a v2 connection: ``"msgpack"`` or ``"json"``.

    MessagePack when the client offered ``reznet.v2.msgpack`` (and msgpack is installed) and
    either did not offer ``reznet.v2`` or ``prefer_msgpack`` (the ``PREFER_MSGPACK`` setting).
    """
    offered = scope.get("subprotocols") or []
    if _msgpack_offered(offered) and (prefer_msgpack or SUBPROTOCOL not in offered):
        return MSGPACK
    return JSON


def subprotocol_for(encoding: str) -> str:
    """Return the subprotocol the server echoes for a v2 connection of ``encoding``."""
    return MSGPACK_SUBPROTOCOL if encoding == MSGPACK else SUBPROTOCOL


# ------------------------------------------------------------------------------------------------


def uses_deflate(scope: Mapping[str, Any]) -> bool:
    """Return True when the connection negotiated permessage-deflate (no app-level gzip)."""
    return DEFLATE_SCOPE_KEY in (scope.get("extensions") or {})


def prepared_deflate(scope: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """Return ``(level, window bits, memory level)`` when the connection's permessage-deflate has
    no server context takeover (each message compressed alone, so a broadcast's compressed frame
    can be shared by every such member); None otherwise."""
    params = (scope.get("extensions") or {}).get(DEFLATE_SCOPE_KEY)
    if not isinstance(params, Mapping) or not params.get("server_no_context_takeover"):
        return None
    try:
        return (
            int(params["level"]),
            int(params["server_max_window_bits"]),
            int(params["mem_level"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


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
    field_map: FieldMap,
    features: Mapping[str, bool],
    cached_hash: str | None,
    protocol: str = SUBPROTOCOL,
) -> dict[str, Any]:
    """Return the data of ``connection_established``; the map only when the client lacks it."""
    info: dict[str, Any] = {
        "version": 2,
        "protocol": protocol,
        "features": dict(features),
        "map_hash": field_map.hash,
    }
    if cached_hash != field_map.hash:
        info["field_map"] = dict(field_map.mapping)
        info["timestamp_fields"] = sorted(field_map.timestamp_fields)
    return info
