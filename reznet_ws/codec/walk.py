"""The DATA walk of protocol section 4: normalize, abbreviate keys, encode timestamps.

Encoding is on the hot path of every message, so the encoder is a set of closures built once per
codec over precomputed dicts: a key costs one dict lookup, a scalar value a few identity checks,
and a list of scalars (or of lists of scalars, as rows of prices) is checked in C and passed
through as it is.

The same walk measures the v1 frame: it adds up how much longer the v1 JSON of the data is than
the compact DATA text (key names, separators, timestamp strings), so the stats' original size
needs no v1 text (see :data:`~.tally.Tally`).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

from .fields import FieldMap
from .jsonvalues import json_key
from .shapes import COMPILE_AFTER, COMPILE_KEYS, shape_source
from .tally import (
    EXTRA,
    FLOATS,
    INEXACT,
    NULLS,
    SCALARS,
    Tally,
    count_scalars,
    floats_bits,
    json_length,
    stamp_length,
)
from .timestamps import MILLIS, SECONDS_MEMO, Encoded, encode_utc_millis

__all__ = ["OnCompile", "Tally", "make_encoder", "make_sized_encoder", "out_key"]

_NoneType = type(None)
_LISTS = frozenset({list})


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
    encode = make_sized_encoder(field_map, default, cache_size)

    def encode_value(value: object) -> object:
        return encode(value, [0, 0, 0, 0])

    return encode_value


#: ``on_compile(keys, kinds, written, extra, names)``: told of each shape the walk compiles (see
#: :mod:`.walk_text`); ``names`` holds the walk's ``enc_value``, ``stamp_value`` and ``stamp_text``.
OnCompile = Callable[[tuple[str, ...], list[type | None], list[str], int, dict[str, object]], None]


def make_sized_encoder(
    field_map: FieldMap,
    default: Callable[[object], object],
    cache_size: int = 4096,
    compile_after: int = COMPILE_AFTER,
    on_compile: OnCompile | None = None,
) -> Callable[[object, Tally], object]:
    """Return ``encode(value, tally)``: :func:`make_encoder`'s function that also counts.

    ``tally`` is a :data:`Tally` of four zeros; the walk adds to it. The returned value may share
    lists of scalars with ``value``: write it out before ``value`` changes. A dict shape (its
    key tuple) seen ``compile_after`` times is compiled (up to ``cache_size`` shapes): the
    result is the same, sooner. ``on_compile`` is told of each compiled shape.
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
    stamp_get = stamp_out.get
    scalars = SCALARS
    lists = _LISTS
    # key tuple of a dict -> what v1 writes more than DATA for its keys and separators.
    shapes: dict[tuple[object, ...], int] = {}
    shapes_get = shapes.get
    seconds_get = SECONDS_MEMO.get
    millis_get = MILLIS.get
    # key tuple of a dict -> its compiled encoder (see compile_shape); and how often shapes that
    # have none yet were seen, so that only shapes that recur are compiled.
    compiled: dict[tuple[object, ...], Callable[[dict[object, object], Tally], dict[str, object]]]
    compiled = {}
    compiled_get = compiled.get
    sightings: dict[tuple[object, ...], int] = {}

    def shape_extra(keys: tuple[object, ...]) -> int:
        extra = 2 * len(keys) - 1 if keys else 0  # v1 writes ": " and ", "
        for key in keys:
            name = json_key(key)
            extra += json_length(name) - json_length(out_key(name, mapping, shorts))
        if len(shapes) < cache_size and all(type(key) is str for key in keys):
            shapes[keys] = extra
        return extra

    def put_slow(out: dict[str, object], key: object, value: object, tally: Tally) -> None:
        name = json_key(key)
        written = stamp_out.get(name)
        if written is not None:
            out[written] = stamp_value(value, tally)
            return
        written = out_key(name, mapping, shorts)
        if type(key) is str and len(kout) < limit:
            kout[key] = written
        out[written] = value

    def enc_dict(obj: dict[object, object], tally: Tally) -> dict[str, object]:
        shape = compiled_get(tuple(obj))
        if shape is not None:
            return shape(obj, tally)
        return enc_dict_general(obj, tally)

    def compile_shape(keys: tuple[object, ...], obj: dict[object, object]) -> None:
        # A dict shape seen often enough gets its own encoder (see shape_source). Any value of
        # another type than the one it had here takes enc_value, so the result is the general
        # path's for every value.
        written = [out_key(key, mapping, shorts) for key in keys]  # type: ignore[arg-type]
        written = [stamp_out.get(key, name) for key, name in zip(keys, written, strict=True)]
        if len(set(written)) != len(keys):
            return  # two keys written as one: the general path flags the size inexact
        kinds: list[type | None] = [
            None if key in stamp_out else type(value)
            for key, value in zip(keys, obj.values(), strict=True)
        ]
        names: dict[str, object] = {f"W{index}": name for index, name in enumerate(written)}
        names |= {
            "enc_value": enc_value,
            "enc_dict": enc_dict,
            "stamp_value": stamp_value,
            "stamp_text": stamp_text,
        }
        extra = shape_extra(keys)
        exec(shape_source(kinds, extra), names)
        compiled[keys] = names["shape"]  # type: ignore[assignment]
        if on_compile is not None:
            on_compile(keys, kinds, written, extra, names)  # type: ignore[arg-type]

    def enc_dict_general(obj: dict[object, object], tally: Tally) -> dict[str, object]:
        out: dict[str, object] = {}
        nulls = 0
        for key, value in obj.items():
            kind = type(value)
            if kind is str or kind is int:
                pass
            elif kind is dict:
                value = enc_dict(value, tally)  # type: ignore[arg-type]
            elif kind is list:
                value = enc_list(value, tally)  # type: ignore[arg-type]
            elif value is None:
                nulls += 1
            elif kind is float:
                tally[FLOATS] |= 3 if -1e-4 < value < 1e-4 and value else 1  # type: ignore[operator]
            elif kind is not bool:
                value = enc_other(value, tally)
            written = kout_get(key)
            if written is not None:
                out[written] = value
            elif (written := stamp_get(key)) is not None:
                out[written] = stamp_value(value, tally)
            else:
                put_slow(out, key, value, tally)
        keys = tuple(obj)
        extra = shapes_get(keys)
        tally[EXTRA] += shape_extra(keys) if extra is None else extra
        tally[NULLS] += nulls
        if len(out) != len(keys):
            tally[INEXACT] = 1
        elif 0 < len(keys) <= COMPILE_KEYS and len(compiled) < cache_size:
            seen = sightings.get(keys, 0) + 1
            if seen < compile_after:
                if len(sightings) >= cache_size:
                    sightings.clear()
                sightings[keys] = seen
            elif all(type(key) is str for key in keys):
                sightings.pop(keys, None)
                compile_shape(keys, obj)
        return out

    def enc_list(items: list[object] | tuple[object, ...], tally: Tally) -> list[object]:
        size = len(items)
        if not size:
            return []
        tally[EXTRA] += size - 1
        kinds = set(map(type, items))
        if kinds <= scalars:
            count_scalars(items, kinds, tally)  # type: ignore[arg-type]
            return items if type(items) is list else list(items)
        if kinds <= lists:  # rows of numbers, [price, quantity] pairs: checked in one pass
            flat: list[object] = list(chain.from_iterable(items))  # type: ignore[arg-type]
            flat_kinds = set(map(type, flat))
            if flat_kinds <= scalars:
                tally[EXTRA] += len(flat) - size + items.count([])
                count_scalars(flat, flat_kinds, tally)
                return items if type(items) is list else list(items)
        out = [
            enc_dict(item, tally)  # type: ignore[arg-type]
            if type(item) is dict
            else item
            if type(item) in scalars
            else enc_value(item, tally)
            for item in items
        ]
        if float in kinds:
            tally[FLOATS] |= floats_bits(items, kinds)  # type: ignore[arg-type]
        if _NoneType in kinds:
            tally[NULLS] += sum(1 for item in items if item is None)
        return out

    def enc_value(value: object, tally: Tally) -> object:
        kind = type(value)
        if kind is dict:
            return enc_dict(value, tally)  # type: ignore[arg-type]
        if kind is list:
            return enc_list(value, tally)  # type: ignore[arg-type]
        if kind in scalars:
            if value is None:
                tally[NULLS] += 1
            elif kind is float:
                tally[FLOATS] |= 3 if -1e-4 < value < 1e-4 and value else 1  # type: ignore[operator]
            return value
        return enc_other(value, tally)

    def enc_other(value: object, tally: Tally) -> object:
        # Same order as json's C encoder: subclasses are written as their base type.
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            number = float.__float__(value)
            tally[FLOATS] |= 3 if -1e-4 < number < 1e-4 and number else 1
            return number
        if isinstance(value, (list, tuple)):
            return enc_list(value, tally)
        if isinstance(value, dict):
            return enc_dict(dict(value.items()), tally)
        return enc_value(default(value), tally)

    def stamp_value(value: object, tally: Tally) -> object:
        # ``value`` is already walked: a scalar, a dict or a list.
        kind = type(value)
        if kind is str:
            return stamp_text(value, tally)  # type: ignore[arg-type]
        if kind is int or kind is float or kind is list:
            tally[EXTRA] -= 2  # DATA writes [v], v1 writes v
            return [value]
        return value

    def stamp_text(text: str, tally: Tally) -> object:
        # encode_utc_millis's common case first, its memos read here: most timestamps.
        if len(text) == 24 and text[23] == "Z" and text[19] == ".":
            base = seconds_get(text[:19])
            milli = millis_get(text[20:23])
            if base is not None and milli:
                encoded: Encoded | None = base + milli
                tally[EXTRA] += 26 - stamp_length(encoded)  # type: ignore[arg-type]
                return encoded
        encoded = encode_utc_millis(text)
        if encoded is None:
            return text
        # An ISO string is ASCII with nothing to escape: v1 writes its length plus quotes.
        tally[EXTRA] += len(text) + 2 - stamp_length(encoded)
        if type(encoded) is list and encoded[2] is None:
            tally[NULLS] += 1
        return encoded

    return enc_value
