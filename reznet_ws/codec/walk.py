"""The DATA walk of protocol section 4: normalize, abbreviate keys, encode timestamps, and back.

Encoding is on the hot path of every broadcast, so the walkers are closures built once per codec
over precomputed dicts: a key costs one dict lookup, a scalar value a few identity checks.
"""

from __future__ import annotations

from collections.abc import Callable

from .fields import FieldMap
from .jsonvalues import json_key
from .timestamps import encode_timestamp, format_timestamp

__all__ = ["make_decoder", "make_encoder", "out_key"]

_NoneType = type(None)
_SCALARS = frozenset({str, int, float, bool, _NoneType})


def out_key(key: str, mapping: dict[str, str], shorts: frozenset[str] | set[str]) -> str:
    """Return the key that is written for the full key ``key`` (protocol section 4.1)."""
    short = mapping.get(key)
    if short is not None:
        return short
    if key in shorts or key.startswith("~"):
        return "~" + key
    return key


def make_encoder(
    field_map: FieldMap, default: Callable[[object], object], cache_size: int = 4096
) -> Callable[[object], object]:
    """Return a function that encodes a Python value to the DATA value of protocol section 4.

    The function raises :class:`TypeError` for values ``default`` cannot convert and
    :class:`RecursionError` for data nested too deeply (or circular). NaN and infinities pass
    through it; the JSON serializer that writes the result refuses them.
    """
    mapping = field_map.mapping
    shorts = frozenset(mapping.values())
    stamps = field_map.timestamp_fields
    # kout: exact str key -> written key, for keys that are not timestamp fields; grows with
    # unknown keys up to ``limit``. Timestamp fields miss it and take the slow path on purpose.
    kout: dict[object, str] = {full: short for full, short in mapping.items() if full not in stamps}
    stamp_out: dict[object, str] = {full: out_key(full, mapping, shorts) for full in stamps}
    limit = len(kout) + cache_size
    kout_get = kout.get
    scalars = _SCALARS
    stamp_get = stamp_out.get

    def stamp_value(value: object) -> object:
        kind = type(value)
        if kind is str:
            encoded = encode_timestamp(value)  # type: ignore[arg-type]
            return value if encoded is None else encoded
        if kind is int or kind is float or kind is list:
            return [value]
        return value

    def put_slow(out: dict[str, object], key: object, value: object) -> None:
        name = json_key(key)
        written = stamp_out.get(name)
        if written is not None:
            out[written] = stamp_value(value)
            return
        written = out_key(name, mapping, shorts)
        if type(key) is str and len(kout) < limit:
            kout[key] = written
        out[written] = value

    def enc_dict(obj: dict[object, object]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in obj.items():
            kind = type(value)
            if kind is dict:
                value = enc_dict(value) if value else {}  # type: ignore[arg-type]
            elif kind is list:
                value = enc_list(value) if value else []  # type: ignore[arg-type]
            elif not (kind is str or kind is int or value is None or kind is bool or kind is float):
                value = enc_other(value)
            written = kout_get(key)
            if written is not None:
                out[written] = value
            elif (written := stamp_get(key)) is not None:
                out[written] = stamp_value(value)
            else:
                put_slow(out, key, value)
        return out

    def enc_list(items: list[object] | tuple[object, ...]) -> list[object]:
        return [
            enc_dict(item)
            if type(item) is dict
            else item
            if type(item) in scalars
            else enc_value(item)
            for item in items
        ]

    def enc_value(value: object) -> object:
        kind = type(value)
        if kind is dict:
            return enc_dict(value)  # type: ignore[arg-type]
        if kind is list:
            return enc_list(value)  # type: ignore[arg-type]
        if kind in scalars:
            return value
        return enc_other(value)

    def enc_other(value: object) -> object:
        # Same order as json's C encoder: subclasses are written as their base type.
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, (list, tuple)):
            return enc_list(value)
        if isinstance(value, dict):
            return enc_dict(value)
        return enc_value(default(value))

    return enc_value


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
