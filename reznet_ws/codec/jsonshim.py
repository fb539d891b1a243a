"""The one place that knows the private C encoder of :mod:`json` (``json.encoder.c_make_encoder``).

``JSONEncoder.encode`` builds a new C encoder for every call, a measurable share of encoding a
small message; calling the C encoder directly skips that. It is private API, so it is used only on
the Python versions it was checked against, only when a probe gives exactly what the public
encoder gives, and the public ``JSONEncoder.encode`` is the fallback everywhere else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

__all__ = ["CHECKED_PYTHONS", "compact_dumps"]

#: Python versions whose ``c_make_encoder`` takes the arguments used here.
CHECKED_PYTHONS: tuple[tuple[int, int], ...] = ((3, 11), (3, 12), (3, 13), (3, 14))

_PROBE: object = {"a": [1, 2.5, None, True, "\u00e9\n\ud800"], "": {}, "b": -(2**70)}


def compact_dumps(*, ensure_ascii: bool, private: bool = True) -> Callable[[object], str]:
    """Return a function writing compact JSON of plain JSON values (no cycles, no NaN).

    The function is ``JSONEncoder(separators=(",", ":"), allow_nan=False, ...).encode`` or, with
    ``private`` on a checked Python, the same encoder's C core called directly. Both raise
    :class:`ValueError` for NaN and infinities and :class:`TypeError` for other types.
    """
    encoder = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False, check_circular=False
    )
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if not private or make_encoder is None or sys.version_info[:2] not in CHECKED_PYTHONS:
        return encoder.encode
    strings = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    try:
        chunks = make_encoder(None, None, strings, None, ":", ",", False, False, False)
        if "".join(chunks(_PROBE, 0)) != encoder.encode(_PROBE):
            return encoder.encode
    except Exception:  # a build whose private encoder takes other arguments
        return encoder.encode

    def dumps(value: object) -> str:
        return "".join(chunks(value, 0))

    return dumps
