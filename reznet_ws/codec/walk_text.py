"""The DATA walk that writes its JSON text directly, for the standard library's :mod:`json`.

Walking a dict builds a new dict (abbreviated keys, encoded timestamps) that :mod:`json` then
writes. For the dict shapes the walk compiles (:mod:`.shapes`), this module compiles a second
function that writes the text of that dict at once: the written keys with their separators are
constants, strings go through :mod:`json`'s own C string encoder, integers and floats through
their ``repr`` as :mod:`json` writes them, and every other value through the walk and
:mod:`json`. The text and the tally are exactly those of writing the walk's result with ``dump``
(property-tested), with one dict and one call into :mod:`json` fewer per record.

With orjson installed the codec writes the walk's result with orjson instead (faster still).
"""

from __future__ import annotations

import json.encoder
import math
from collections.abc import Callable

from .fields import FieldMap
from .shapes import COMPILE_AFTER, text_shape_source
from .tally import EXTRA, FLOATS, SCALARS, Tally, count_scalars
from .walk import make_sized_encoder

__all__ = ["make_text_encoder"]

_DICTS = {dict}


def make_text_encoder(
    field_map: FieldMap,
    default: Callable[[object], object],
    dump: Callable[[object], str],
    cache_size: int = 4096,
    compile_after: int = COMPILE_AFTER,
) -> tuple[Callable[[object, Tally], object], Callable[[object, Tally], str]]:
    """Return ``(encode, encode_text)``: the walk of :func:`~.walk.make_sized_encoder` and a
    function giving ``dump(encode(value, tally))`` for the same tally, sooner.

    ``dump`` is the compact, non-ASCII-escaping writer of :func:`~.jsonshim.compact_dumps`: the
    string encoder used here is the one it uses. Both functions share the compiled shapes.
    """
    texts: dict[tuple[str, ...], Callable[[dict[str, object], Tally], str]] = {}
    texts_get = texts.get
    finite = math.isfinite

    def text_value(value: object, tally: Tally) -> str:
        kind = type(value)
        if kind is dict:
            shape = texts_get(tuple(value))  # type: ignore[arg-type]
            if shape is not None:
                return shape(value, tally)  # type: ignore[arg-type]
        elif kind is list and value:
            return list_text(value, tally)  # type: ignore[arg-type]
        return dump(encode(value, tally))

    def list_text(items: list[object], tally: Tally) -> str:
        # Counted as the walk's enc_list counts it: one separator less than items, and then
        # scalars (written as they are) or records (each written as a dict value is).
        kinds = set(map(type, items))
        if kinds <= SCALARS:
            tally[EXTRA] += len(items) - 1
            count_scalars(items, kinds, tally)
            return dump(items)
        if kinds == _DICTS:
            tally[EXTRA] += len(items) - 1
            return f"[{','.join([text_value(item, tally) for item in items])}]"
        return dump(encode(items, tally))

    def float_text(value: object, tally: Tally) -> str:
        if type(value) is float and finite(value):
            tally[FLOATS] |= 3 if -1e-4 < value < 1e-4 and value else 1
            return float.__repr__(value)
        return text_value(value, tally)  # NaN and infinities: json refuses them

    def on_compile(
        keys: tuple[str, ...],
        kinds: list[type | None],
        written: list[str],
        extra: int,
        names: dict[str, object],
    ) -> None:
        pieces = [f"{',' if index else '{'}{dump(name)}:" for index, name in enumerate(written)]
        scope: dict[str, object] = {f"P{index}": piece for index, piece in enumerate(pieces)}
        scope |= {
            "es": json.encoder.encode_basestring,
            "int_text": int.__repr__,
            "float_text": float_text,
            "text_value": text_value,
            "dump": dump,
            "enc_value": names["enc_value"],
            "stamp_value": names["stamp_value"],
            "stamp_text": names["stamp_text"],
        }
        exec(text_shape_source(kinds, extra), scope)
        texts[keys] = scope["shape_text"]  # type: ignore[assignment]

    encode = make_sized_encoder(field_map, default, cache_size, compile_after, on_compile)
    return encode, text_value
