"""Keyed events and structural deltas (docs/protocol.md, section 3.2). Pure: no Django.

A keyed event carries a live object under an application key (``"plan:42"``). The server keeps,
per key and per delivery stream, the last DATA value it sent (the *encoded* value: abbreviated
keys, encoded timestamps) and sends either the full DATA with a version, or the operations that
turn the previous DATA into the new one. Diffing the encoded values makes the field map and the
timestamp encoding part of the values the delta carries, so a receiver that applies the delta to
the DATA it holds and decodes the result gets exactly what decoding the full frame would give.

Operations (``OPS`` is a JSON array of them; ``PATH`` an array of object keys and array indexes):

- ``[PATH, VALUE]``: set the member or element at ``PATH`` (``[]``: replace the whole value);
- ``[PATH]``: remove the object member at ``PATH``;
- ``[PATH, I, N, ITEMS]``: in the array at ``PATH``, replace the ``N`` items from index ``I``
  with ``ITEMS`` (an array).
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from .frames import Codec

__all__ = [
    "DELTA_FEATURE",
    "HAVE_PARAM",
    "RESYNC_EVENT",
    "DeltaError",
    "accepts_delta",
    "apply_delta",
    "check_key",
    "checked_diff",
    "delta_frame",
    "diff",
    "dump_ops",
    "held_versions",
    "keyed_frame",
    "new_epoch",
    "same",
]

#: The ``reznet_features`` value with which a client says it decodes keyed and delta frames.
DELTA_FEATURE = "delta"
#: The raw event a client sends to ask for full objects of keys it cannot continue.
RESYNC_EVENT = "reznet.resync"

_SURROGATE = re.compile("[\ud800-\udfff]")
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_dump_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class DeltaError(ValueError):
    """A delta that does not apply to the value it is applied to (a receiver resyncs)."""


#: Longest key accepted by ``send_event(..., key=)`` and ``broadcast(..., key=)``.
MAX_KEY_LENGTH = 256


def accepts_delta(query_string: bytes | str | None) -> bool:
    """Return True when the handshake's ``reznet_features`` lists ``delta``."""
    raw = query_string or b""
    query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    names = {n.strip() for value in query.get("reznet_features", ()) for n in value.split(",")}
    return DELTA_FEATURE in names


#: The query parameter with the versions a reconnecting client holds: JSON
#: ``[[KEY, EPOCH, N], ...]`` (at most :data:`MAX_HAVE` entries are read).
HAVE_PARAM = "reznet_have"
MAX_HAVE = 64


def held_versions(query_string: bytes | str | None) -> dict[str, tuple[str, int]]:
    """Return ``{key: (epoch, version)}`` from ``reznet_have``; malformed entries are ignored."""
    raw = query_string or b""
    query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    values = query.get(HAVE_PARAM)
    if not values or len(values[-1]) > 16384:
        return {}
    try:
        entries = json.loads(values[-1])
    except ValueError:
        return {}
    held: dict[str, tuple[str, int]] = {}
    for entry in entries[:MAX_HAVE] if type(entries) is list else ():
        if type(entry) is list and len(entry) == 3:
            key, epoch, version = entry
            if type(key) is str and type(epoch) is str and type(version) is int:
                held[key] = (epoch, version)
    return held


def check_key(key: object) -> None:
    """Raise :class:`TypeError` / :class:`ValueError` for a key that is not a short string."""
    if not isinstance(key, str):
        raise TypeError(f"a key must be a str, not {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a key must have 1 to {MAX_KEY_LENGTH} characters")


def new_epoch() -> str:
    """Return a fresh stream identity: versions of different streams never match."""
    return secrets.token_hex(4)


# -------------------------------------------------------------------------------- diff


def same(a: Any, b: Any) -> bool:
    """Return True when ``a`` and ``b`` are the same JSON value: types, key order and all.

    ``1``, ``1.0`` and ``True`` differ (a Python receiver tells them apart), so do ``0.0`` and
    ``-0.0``, and so do two objects whose members come in another order.
    """
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        if len(a) != len(b) or list(a) != list(b):
            return False
        return all(same(value, b[key]) for key, value in a.items())
    if kind is list:
        return len(a) == len(b) and all(map(same, a, b))
    if kind is float and a == 0.0:
        return b == 0.0 and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def diff(old: object, new: object, *, strict: bool = True) -> list[list[Any]]:
    """Return the operations that turn the JSON value ``old`` into ``new`` (``[]``: equal).

    Both are parsed JSON values (dicts, lists, str, int, float, bool, None). The operations
    share sub-values with ``new``: write them out before ``new`` changes. With ``strict=False``
    equal-looking parts are skipped with Python's ``==`` (fast, in C), which takes ``1`` for
    ``1.0`` or ``True`` and ignores member order: the caller must then check the result (see
    :func:`reznet_ws.delivery.keyed.KeyedStreams.advance`) and fall back to the strict diff.
    """
    ops: list[list[Any]] = []
    _diff(old, new, [], ops, same if strict else _loose)
    return ops


def checked_diff(
    old: object, new: object, old_copy: object, dumps: Callable[[object], object] = _dump
) -> list[list[Any]]:
    """Return :func:`diff`'s operations, computed the fast way and checked.

    ``old_copy`` is a copy of ``old`` (it is changed). The fast operations are applied to it and
    the result written with ``dumps`` (which must tell ``1``, ``1.0``, ``True`` and ``-0.0``
    apart and keep member order, as JSON writers do) must equal ``dumps(new)``; otherwise the
    strict diff is returned. Either way the operations turn ``old`` into exactly ``new``.
    """
    ops = diff(old, new, strict=False)
    try:
        if dumps(apply_delta(old_copy, ops)) == dumps(new):
            return ops
    except (DeltaError, TypeError, ValueError):
        pass
    return diff(old, new)


def _loose(a: Any, b: Any) -> bool:
    return bool(a == b)


def _diff(old: Any, new: Any, path: list[Any], ops: list[list[Any]], eq: Any) -> None:
    kind = type(old)
    if kind is not type(new):
        ops.append([path, new])
    elif kind is dict:
        if eq is not _loose or old != new:
            _diff_dict(old, new, path, ops, eq)
    elif kind is list:
        if eq is not _loose or old != new:
            _diff_list(old, new, path, ops, eq)
    elif not eq(old, new):
        ops.append([path, new])


def _diff_dict(
    old: dict[str, Any], new: dict[str, Any], path: list[Any], ops: list[Any], eq: Any
) -> None:
    kept = [key for key in old if key in new]
    added = [key for key in new if key not in old]
    if kept + added != list(new):  # members reordered: a receiver could not rebuild the order
        ops.append([path, new])
        return
    for key in old:
        if key not in new:
            ops.append([[*path, key]])
    for key in kept:
        _diff(old[key], new[key], [*path, key], ops, eq)
    for key in added:
        ops.append([[*path, key], new[key]])


def _diff_list(old: list[Any], new: list[Any], path: list[Any], ops: list[Any], eq: Any) -> None:
    size_old, size_new = len(old), len(new)
    shortest = min(size_old, size_new)
    start = 0
    while start < shortest and eq(old[start], new[start]):
        start += 1
    tail = 0
    while tail < shortest - start and eq(old[size_old - 1 - tail], new[size_new - 1 - tail]):
        tail += 1
    removed = size_old - tail - start
    inserted = new[start : size_new - tail]
    if removed == len(inserted):
        for offset, item in enumerate(inserted):
            _diff(old[start + offset], item, [*path, start + offset], ops, eq)
    else:
        ops.append([path, start, removed, inserted])


def dump_ops(ops: list[list[Any]]) -> str:
    """Return the compact JSON text of ``ops``; always encodable as UTF-8 (see protocol 3).

    A path of one member name is written as that name (``["s", V]`` for ``[["s"], V]``).
    """
    short = [[op[0][0], *op[1:]] if len(op[0]) == 1 and type(op[0][0]) is str else op for op in ops]
    text = _dump(short)
    if not text.isascii() and _SURROGATE.search(text):
        text = _dump_ascii(short)
    return text


# ------------------------------------------------------------------------------- apply


def apply_delta(value: object, ops: object) -> object:
    """Return ``value`` with the operations ``ops`` applied (``value`` is changed in place).

    Raises :class:`DeltaError` when an operation is malformed or does not fit ``value``; the
    value may then be half changed, and the receiver must drop it and resync.
    """
    if type(ops) is not list:
        raise DeltaError("a delta is an array of operations")
    for op in ops:
        if type(op) is not list or len(op) not in (1, 2, 4) or type(op[0]) not in (list, str):
            raise DeltaError("an operation is [PATH], [PATH, VALUE] or [PATH, I, N, ITEMS]")
        path = op[0] if type(op[0]) is list else [op[0]]
        if len(op) == 2 and not path:
            value = op[1]
        elif len(op) == 4:
            _splice(_walk(value, path), op[1], op[2], op[3])
        elif not path:
            raise DeltaError("cannot remove the whole value")
        else:
            _set(_walk(value, path[:-1]), path[-1], op[1] if len(op) == 2 else _REMOVE)
    return value


_REMOVE = object()


def _walk(value: object, path: list[Any]) -> object:
    for step in path:
        if type(value) is dict and type(step) is str and step in value:
            value = value[step]
        elif type(value) is list and type(step) is int and 0 <= step < len(value):
            value = value[step]
        else:
            raise DeltaError(f"path step {step!r} does not exist")
    return value


def _set(parent: object, step: object, item: object) -> None:
    if type(parent) is dict and type(step) is str:
        if item is not _REMOVE:
            parent[step] = item
        elif step in parent:
            del parent[step]
        else:
            raise DeltaError(f"no member {step!r} to remove")
    elif type(parent) is list and type(step) is int and 0 <= step < len(parent):
        if item is _REMOVE:
            raise DeltaError("array items are removed with a splice")
        parent[step] = item
    else:
        raise DeltaError(f"cannot set {step!r} here")


def _splice(target: object, start: object, count: object, items: object) -> None:
    if type(target) is not list or type(items) is not list:
        raise DeltaError("a splice needs an array and an array of items")
    if type(start) is not int or type(count) is not int:
        raise DeltaError("a splice needs integer I and N")
    if start < 0 or count < 0 or start + count > len(target):
        raise DeltaError("a splice outside the array")
    target[start : start + count] = items


# ------------------------------------------------------------------------------ frames


def keyed_frame(codec: Codec, event: str, key: str, version: int, epoch: str, data: str) -> str:
    """Return the full keyed frame: ``{"_v":2,"e":EVENT,"k":KEY,"n":N,"s":EPOCH,"d":DATA}``."""
    head = f'{{"_v":2,"e":{codec._event_json(event)},"k":{_dump_key(key)}'
    return f'{head},"n":{version},"s":"{epoch}","d":{data}}}'


def delta_frame(codec: Codec, event: str | None, key: str, version: int, ops: str) -> str:
    """Return the delta frame: ``{"_v":2,"e":EVENT,"k":KEY,"n":N,"x":OPS}`` (``OPS`` text).

    ``event`` None leaves ``e`` out: the event is that of the key's previous version.
    """
    head = '{"_v":2' if event is None else f'{{"_v":2,"e":{codec._event_json(event)}'
    return f'{head},"k":{_dump_key(key)},"n":{version},"x":{ops}}}'


def _dump_key(key: str) -> str:
    return _dump_ascii(key)
