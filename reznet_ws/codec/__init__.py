"""The reznet wire codec: pure Python, no Django or Channels imports (docs/protocol.md).

Shared by the consumer mixin (server side) and the conformance vectors (client side).
"""

from __future__ import annotations

from .errors import ERROR_CODES, ProtocolError
from .fields import DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS, FieldMap, validate_field_map
from .frames import Codec
from .timestamps import encode_timestamp, format_timestamp

__all__ = [
    "DEFAULT_FIELD_MAP",
    "DEFAULT_TIMESTAMP_FIELDS",
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "SUBPROTOCOL",
    "Codec",
    "FieldMap",
    "ProtocolError",
    "encode_timestamp",
    "format_timestamp",
    "validate_field_map",
]

PROTOCOL_VERSION = 2
SUBPROTOCOL = f"reznet.v{PROTOCOL_VERSION}"
