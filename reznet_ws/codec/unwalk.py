"""The inverse of the DATA walk (protocol section 4): DATA back to the plain JSON value.

:meth:`Codec.decode_data <reznet_ws.codec.Codec.decode_data>` and ``decode_frame`` decode with it
what a client decodes: full keys from the field map, ``~`` escapes removed, timestamp encodings
formatted back to the exact ISO strings they came from.
"""

from __future__ import annotations

from collections.abc import Callable

from .fields import FieldMap
from .timestamps import format_timestamp

__all__ = ["make_decoder"]


def make_decoder(field_map: FieldMap) -> Callable[[object], object]:
    """Return a function that decodes a parsed DATA value back to the plain JSON value.

    The function raises :class:`ValueError` for a timestamp encoding that cannot be formatted
    (for example an ``ms`` outside years 0001-9999).
    """
    kin = field_map.inverse
    stamps = field_map.timestamp_fields

    def dec_dict(obj: dict[str, object]) -> dict[str, object]:
        out: dict[str, object] = {}
        for written, value in obj.items():
            key = kin.get(written)
            if key is None:
                key = written[1:] if written.startswith("~") else written
            if key in stamps:
                out[key] = dec_stamp(value)
            else:
                kind = type(value)
                if kind is dict:
                    value = dec_dict(value)  # type: ignore[arg-type]
                elif kind is list:
                    value = [dec_value(item) for item in value]  # type: ignore[attr-defined]
                out[key] = value
        return out

    def dec_stamp(value: object) -> object:
        kind = type(value)
        if kind is int or (kind is float and value.is_integer()):  # type: ignore[attr-defined]
            return format_timestamp(value)
        if kind is list:
            if len(value) == 3:  # type: ignore[arg-type]
                return format_timestamp(*value)  # type: ignore[misc]
            if len(value) == 1:  # type: ignore[arg-type]
                return dec_value(value[0])  # type: ignore[index]
        return dec_value(value)

    def dec_value(value: object) -> object:
        kind = type(value)
        if kind is dict:
            return dec_dict(value)  # type: ignore[arg-type]
        if kind is list:
            return [dec_value(item) for item in value]  # type: ignore[attr-defined]
        return value

    return dec_value
