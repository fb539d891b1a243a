"""Parsing untrusted JSON text with every limit: size, depth and numbers (protocol section 5)."""

from __future__ import annotations

import json
import re
from itertools import accumulate

from .errors import ProtocolError

__all__ = ["load_json", "nesting_exceeds", "utf8_length_exceeds"]

# A JSON string, or an unterminated one running to the end (so the scan stays linear).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))
_INFINITIES = (float("inf"), float("-inf"))


class _BadNumber(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise _BadNumber(f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in _INFINITIES:
        raise _BadNumber(f"{text[:40]} overflows to infinity")
    return value


def utf8_length_exceeds(text: str, limit: int) -> bool:
    """Return whether the UTF-8 encoding of ``text`` is longer than ``limit`` bytes."""
    if len(text) > limit:
        return True
    if text.isascii() or len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def nesting_exceeds(text: str, limit: int) -> bool:
    """Return whether JSON ``text`` nests objects/arrays more than ``limit`` levels deep.

    Runs in linear time without recursion (strings are removed first, then the brackets that
    remain are counted), so it is safe on hostile input of any depth.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    bare = _STRING.sub("", text)
    if bare.count("[") + bare.count("{") <= limit:
        return False
    brackets = bare.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0) > limit


def load_json(text: str, max_depth: int) -> object:
    """Return the parsed JSON ``text``.

    Raises :class:`ProtocolError`: ``too_deep``, ``malformed_json``, or ``invalid_number`` for
    ``NaN``/``Infinity``, numbers that overflow to infinity and integers too long to convert.
    """
    if nesting_exceeds(text, max_depth):
        raise ProtocolError("too_deep", f"nesting deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except _BadNumber as exc:
        raise ProtocolError("invalid_number", str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ProtocolError("malformed_json", str(exc)) from None
    except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
        raise ProtocolError("invalid_number", str(exc)[:200]) from None
    except RecursionError:
        raise ProtocolError("too_deep", "nesting too deep to parse") from None
