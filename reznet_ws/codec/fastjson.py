"""The optional fast JSON writer (orjson, ``pip install reznet-ws[fast]``) and v1 size arithmetic.

orjson writes the DATA text several times faster than :mod:`json`. It is used only for values it
writes as a JSON text that parses to the same value; for the others (integers beyond 64 bits,
lone surrogates, NaN and infinities, which orjson would write as ``null``) the codec falls back to
:mod:`json`, so the output is the same value whichever backend is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

__all__ = [
    "JSON_BACKENDS",
    "ascii_escaped",
    "ascii_json_length",
    "float_length_fix",
    "orjson_dumps",
    "resolve_backend",
]

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # the [fast] extra is not installed
    orjson = None

#: Values of the ``JSON_BACKEND`` setting.
JSON_BACKENDS = ("auto", "orjson", "stdlib")

_NOT_MARK = bytes(range(0x7F)) + bytes(range(0x80, 0xC0))  # all but DEL and UTF-8 lead bytes
_NOT_ASTRAL = bytes(range(0xF0))

# orjson writes floats below 1e-4 as 0.00001 or 1e-7 where Python writes 1e-05 and 1e-07. Strings
# are matched too, so that the scan never starts inside one.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<![0-9.])(-?[0-9][0-9.]*(?:e-[0-9]+)?)', re.DOTALL)


def resolve_backend(name: str) -> str:
    """Return the backend ``"orjson"`` or ``"stdlib"`` that the setting ``name`` selects.

    ``"auto"`` selects orjson when it is installed. Raises :class:`ImportError` (naming the
    ``pip install`` extra) for ``"orjson"`` without orjson, :class:`ValueError` for other names.
    """
    if name not in JSON_BACKENDS:
        raise ValueError(f"JSON_BACKEND must be one of {', '.join(JSON_BACKENDS)}, not {name!r}")
    if name == "auto":
        return "stdlib" if orjson is None else "orjson"
    if name == "orjson" and orjson is None:
        raise ImportError("JSON_BACKEND 'orjson' needs orjson: pip install 'reznet-ws[fast]'")
    return name


def orjson_dumps() -> Callable[[object], bytes]:
    """Return ``orjson.dumps`` (raises :class:`ImportError` without orjson)."""
    if orjson is None:
        raise ImportError("orjson is not installed: pip install 'reznet-ws[fast]'")
    dumps: Callable[[object], bytes] = orjson.dumps
    return dumps


def ascii_json_length(text: str, data: bytes | None = None) -> int:
    """Return the length of ``text`` once DEL and each non-ASCII character is a ``\\uXXXX`` escape.

    That is how ``json.dumps`` (``ensure_ascii``) writes them: 6 characters for DEL and each
    character of the BMP, 12 (a surrogate pair) for the others. ``data`` is ``text`` in UTF-8
    when the caller has it (orjson's output), else it is encoded here.
    """
    if text.isascii():
        return len(text) + (5 * text.count("\x7f") if "\x7f" in text else 0)
    if data is None:
        data = text.encode("utf-8", "surrogatepass")
    # One byte per DEL and per non-ASCII character (its UTF-8 lead byte), each 5 more than the
    # character; among them, the leads of characters beyond the BMP (F0-F4) add 6 more.
    marks = data.translate(None, _NOT_MARK)
    return len(text) + 5 * len(marks) + 6 * len(marks.translate(None, _NOT_ASTRAL))


_BEYOND_ASCII = re.compile("[\x7f-\U0010ffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as json writes characters beyond the BMP
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def ascii_escaped(text: str) -> str:
    """Return the JSON ``text`` (as written without ``ensure_ascii``) as ``json`` writes the same
    value with ``ensure_ascii``: DEL and every non-ASCII character as ``\\uXXXX`` escapes."""
    return _BEYOND_ASCII.sub(_escape, text)


def float_length_fix(data: bytes) -> int:
    """Return how much longer Python's ``repr`` writes the floats of orjson's JSON ``data``."""
    # The common case. A one-byte search is a memchr; "e-" needs a "-" first.
    if (b"-" not in data or b"e-" not in data) and b".0000" not in data:
        return 0
    fix = 0
    for match in _TOKEN.finditer(data):
        number = match.group(1)
        if number is not None and (b"e-" in number or b".0000" in number):
            fix += len(float.__repr__(float(number))) - len(number)
    return fix
