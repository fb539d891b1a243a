"""What the DATA walk counts besides the value it returns: the :data:`Tally` and its helpers.

The walk (:mod:`.walk`) and the walk that writes its own text (:mod:`.walk_text`) count the same
things the same way, with these functions.
"""

from __future__ import annotations

import json

from .timestamps import Encoded

__all__ = [
    "EXTRA",
    "FLOATS",
    "INEXACT",
    "NULLS",
    "SCALARS",
    "Tally",
    "count_scalars",
    "floats_bits",
    "json_length",
    "stamp_length",
]

_NoneType = type(None)
#: The exact types the walk passes through as they are.
SCALARS = frozenset({str, int, float, bool, _NoneType})
_NUMBERS = frozenset({int, float, bool})

#: What one walk counts, in a list so the closures update it without a per-call object:
#: ``[extra, nulls, floats, inexact]``. ``extra`` is the length of v1's JSON of the data minus the
#: ASCII-escaped length of the compact DATA text; ``nulls`` the ``null`` values the DATA text holds;
#: ``floats`` has bit 1 set when it holds a float and bit 2 when one of them is nonzero and below
#: 1e-4 in magnitude (orjson writes those otherwise than ``repr``, see
#: :func:`~reznet_ws.codec.fastjson.float_length_fix`); ``inexact`` is 1 when ``extra`` is not
#: exact (two keys that v1 writes twice and DATA once, as ``{1: a, "1": b}``).
Tally = list[int]
EXTRA, NULLS, FLOATS, INEXACT = range(4)

_MS_13_LOW, _MS_13_HIGH = 10**12, 10**13


def floats_bits(items: list[object], kinds: set[type]) -> int:
    """Return the ``floats`` bits of a list of exact scalars holding a float."""
    # Lists of numbers that are all at least 1e-4 (prices, quantities) are checked in C; others
    # float by float.
    if kinds <= _NUMBERS and min(items) >= 1e-4:  # type: ignore[type-var,operator]
        return 1
    for item in items:
        if type(item) is float and -1e-4 < item < 1e-4 and item:
            return 3
    return 1


def count_scalars(items: list[object], kinds: set[type], tally: Tally) -> None:
    """Add a list of exact scalars, whose types are ``kinds``, to the floats and nulls of
    ``tally``."""
    if float in kinds:
        tally[FLOATS] |= floats_bits(items, kinds)
    if _NoneType in kinds:
        tally[NULLS] += items.count(None)  # no element but None equals None


def json_length(text: str) -> int:
    """Return the length of ``json.dumps(text)``: ASCII-escaped, as v1 writes every string."""
    return len(json.dumps(text))


def stamp_length(encoded: Encoded) -> int:
    """Return the length of the compact JSON of a timestamp encoding: ms or [ms, frac, tz]."""
    if type(encoded) is int:
        return 13 if _MS_13_LOW <= encoded < _MS_13_HIGH else len(int.__repr__(encoded))
    ms, frac, tz = encoded  # type: ignore[misc]
    tz_text = "null" if tz is None else "false" if tz is False else int.__repr__(tz)
    return len(f"[{ms},{frac},{tz_text}]")
