"""What v1 makes of Python values: the rules of ``json.dumps`` and ``DjangoJSONEncoder``.

The codec normalizes data to exactly the JSON value that v1 (``json.dumps`` with Django's encoder)
would deliver, so that decoding a v2 frame gives what parsing the v1 frame gives.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

__all__ = ["django_default", "duration_iso_string", "json_key"]


def duration_iso_string(duration: datetime.timedelta) -> str:
    """Return ``duration`` as Django's ``duration_iso_string`` writes it: ``P1DT02H03M04.5S``."""
    sign = ""
    if duration < datetime.timedelta(0):
        sign, duration = "-", -duration
    minutes, seconds = divmod(duration.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    micro = f".{duration.microseconds:06d}" if duration.microseconds else ""
    return f"{sign}P{duration.days}DT{hours:02d}H{minutes:02d}M{seconds:02d}{micro}S"


def django_default(o: object) -> object:
    """Return ``o`` as ``DjangoJSONEncoder().default(o)`` does, without importing Django.

    Covers ``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal`` and ``UUID``. Raises
    :class:`ValueError` for aware times and :class:`TypeError` for any other type (lazy
    translation strings need Django's own encoder, which the Django layer passes in).
    """
    if isinstance(o, datetime.datetime):
        text = o.isoformat()
        if o.microsecond:
            text = text[:23] + text[26:]
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text
    if isinstance(o, datetime.date):
        return o.isoformat()
    if isinstance(o, datetime.time):
        if o.utcoffset() is not None:
            raise ValueError("JSON can't represent timezone-aware times.")
        text = o.isoformat()
        return text[:12] if o.microsecond else text
    if isinstance(o, datetime.timedelta):
        return duration_iso_string(o)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def json_key(key: object) -> str:
    """Return the object key ``json.dumps`` writes for the dict key ``key``.

    Raises :class:`TypeError` for keys that ``json.dumps`` refuses (anything but str, int, float,
    bool and None).
    """
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, float):
        if key != key:
            return "NaN"
        if key in (float("inf"), float("-inf")):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
