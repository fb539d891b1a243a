"""Timestamp values: ISO-8601 strings to Unix milliseconds and back (protocol section 4.2).

An ISO string becomes ``ms`` (the common UTC form with 0 or 3 fraction digits) or
``[ms, frac, tz]``; :func:`format_timestamp` writes it back byte for byte. Strings that no format
reproduces exactly are not converted.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "MILLIS",
    "SECONDS_MEMO",
    "Encoded",
    "encode_timestamp",
    "encode_utc_millis",
    "format_timestamp",
]

Encoded = int | list[object]

# The date, hour and minute of a timestamp repeat from one message to the next: their value is
# memoized (bounded) and only the seconds, fraction and zone are parsed each time.
_HEAD = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})", re.ASCII)
_REST = re.compile(r"(?:\.([0-9]{3})([0-9]{3})?)?(Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII)
_HEADS: dict[str, int] = {}
_HEADS_MAX = 4096
_INVALID = -1  # never a minute's ms, which are multiples of 60000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_DAY = date.min.toordinal() - _EPOCH_ORDINAL
_MAX_DAY = date.max.toordinal() - _EPOCH_ORDINAL
_DAY_MS = 86_400_000


def _minute_ms(head: str) -> int:
    match = _HEAD.fullmatch(head)
    if match is None:
        return _INVALID
    year, month, day, hour, minute = map(int, match.groups())
    if hour > 23 or minute > 59:
        return _INVALID
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:  # year 0000, month 13, February 30, ...
        return _INVALID
    return (days * 1440 + hour * 60 + minute) * 60_000


def encode_timestamp(text: str) -> Encoded | None:
    """Return the encoding of the ISO-8601 string ``text``, or ``None`` to leave it a string.

    The encoding is the integer ``ms`` for ``YYYY-MM-DDTHH:MM:SS[.sss]Z`` (fraction not ``.000``)
    and the list ``[ms, frac, tz]`` for the other forms of the protocol's format.
    """
    if not 19 <= len(text) <= 32 or not text.isascii() or text[16] != ":":
        return None
    head = text[:16]
    base = _HEADS.get(head)
    if base is None:
        base = _minute_ms(head)
        if len(_HEADS) >= _HEADS_MAX:  # time moves on: old minutes are not needed again
            _HEADS.clear()
        _HEADS[head] = base
    second = text[17:19]
    if base == _INVALID or not second.isdigit() or second > "59":
        return None
    base += int(second) * 1000
    rest = text[19:]
    if rest == "Z":  # the two forms Django and DRF send, tried first
        return base
    if len(rest) == 5 and rest[0] == "." and rest[4] == "Z" and rest[1:4].isdigit():
        milli = int(rest[1:4])
        return base + milli if milli else [base, 1, None]
    return _encode_rest(base, rest)


#: "YYYY-MM-DDTHH:MM:SS" -> the Unix ms of that second, or None when it is no timestamp's start
#: (bounded; read by the DATA walk too).
SECONDS_MEMO: dict[str, int | None] = {}
_SECONDS_MAX = 4096
_UNKNOWN = -1  # never a second's ms, which are multiples of 1000


def encode_utc_millis(text: str) -> Encoded | None:
    """Return :func:`encode_timestamp` of ``text``, faster for ``YYYY-MM-DDTHH:MM:SS.sssZ``.

    That form (JavaScript's ``toISOString``, Django's JSON encoder) is most timestamps on the
    wire: its second and its milliseconds are looked up (the seconds in a bounded memo), nothing
    is parsed. Any other string goes to :func:`encode_timestamp`; the result is the same either
    way.
    """
    if len(text) != 24 or text[23] != "Z" or text[19] != ".":
        return encode_timestamp(text)
    second = text[:19]
    base = SECONDS_MEMO.get(second, _UNKNOWN)
    if base == _UNKNOWN:
        encoded = encode_timestamp(second + "Z")
        base = encoded if type(encoded) is int else None
        if len(SECONDS_MEMO) >= _SECONDS_MAX:  # time moves on: old seconds are not needed again
            SECONDS_MEMO.clear()
        SECONDS_MEMO[second] = base
    milli = MILLIS.get(text[20:23])
    if base is None or milli is None:  # not a valid second, or not three digits
        return None
    return base + milli if milli else [base, 1, None]


#: "000" ... "999" -> 0 ... 999: three ASCII digits of milliseconds, looked up rather than parsed.
MILLIS = {f"{milli:03d}": milli for milli in range(1000)}


def _encode_rest(base: int, rest: str) -> Encoded | None:
    match = _REST.fullmatch(rest)
    if match is None:
        return None
    milli3, micro3, zone = match.groups()
    if milli3 is None:
        milli, frac = 0, 0
    elif micro3 is None:
        milli = int(milli3)
        frac = 0 if milli else 1
    elif micro3 == "000" and milli3 != "000":
        milli, frac = int(milli3), 2
    else:
        return None
    tz: int | bool | None
    if zone is None:
        tz = False
    elif zone == "Z":
        tz = None
    else:
        hh, mm = int(zone[1:3]), int(zone[4:6])
        if hh > 23 or mm > 59 or zone == "-00:00":
            return None
        tz = hh * 60 + mm if zone[0] == "+" else -(hh * 60 + mm)
    ms = base + milli - (tz or 0) * 60_000
    if frac == 0 and tz is None:
        return ms
    return [ms, frac, tz]


def _integer(value: object) -> int | None:
    # A JSON number with no fractional part, however it is written (1, 1.0, 1e3): JavaScript
    # cannot tell them apart, so a Python decoder must not either.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def format_timestamp(ms: object, frac: object = 0, tz: object = None) -> str:
    """Return the ISO-8601 string ``format(ms, frac, tz)`` of protocol section 4.2.

    Numbers may be ints or integral floats. Raises :class:`ValueError` when the arguments are not a
    valid encoding: ``ms`` not an integer, ``frac`` not 0/1/2, ``tz`` not ``None``/``False``/an
    integer with ``|tz| < 1440``, or a local time outside years 0001-9999.
    """
    millis, fraction = _integer(ms), _integer(frac)
    if millis is None:
        raise ValueError(f"timestamp milliseconds must be an integer, not {ms!r}")
    if fraction is None or not 0 <= fraction <= 2:
        raise ValueError(f"timestamp fraction format must be 0, 1 or 2, not {frac!r}")
    if tz is None or tz is False:
        offset = 0
    else:
        minutes = _integer(tz)
        if minutes is None or not -1440 < minutes < 1440:
            raise ValueError(f"timestamp offset must be null, false or minutes, not {tz!r}")
        offset = minutes
    return _format(millis, fraction, offset, tz is None, tz is False)


def _format(ms: int, frac: int, offset: int, utc: bool, naive: bool) -> str:
    days, rest = divmod(ms + offset * 60_000, _DAY_MS)
    if not _MIN_DAY <= days <= _MAX_DAY:
        raise ValueError(f"timestamp {ms} is outside years 0001-9999")
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    seconds, milli = divmod(rest, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    if milli or frac == 1:
        text += f".{milli:03d}000" if frac == 2 else f".{milli:03d}"
    if utc:
        return text + "Z"
    if naive:
        return text
    sign = "-" if offset < 0 else "+"
    return f"{text}{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
