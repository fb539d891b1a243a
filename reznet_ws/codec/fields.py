"""The field map: a validated bijection from full key names to short ones (protocol section 4.1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_FIELD_MAP",
    "DEFAULT_TIMESTAMP_FIELDS",
    "FieldMap",
    "map_hash",
    "validate_field_map",
]

# Published in docs/field-map.md, which tests/vectors/generate.py writes; a test keeps them in step.
# Changing an entry changes the map hash, so cached client maps are simply refreshed.
DEFAULT_FIELD_MAP: dict[str, str] = {
    # Messages
    "message_id": "mid",
    "channel_id": "cid",
    "author_type": "at",
    "author_name": "an",
    "author_id": "aid",
    "content": "c",
    "created_at": "ts",
    "updated_at": "uts",
    "timestamp": "tms",
    "metadata": "m",
    "message": "msg",
    "in_reply_to": "irt",
    "thread_id": "thid",
    "parent_id": "pid",
    "sequence": "seq",
    "text": "tx",
    "title": "ti",
    "url": "u",
    "attachments": "att",
    "reactions": "rx",
    "mentions": "mn",
    "edited": "ed",
    "edited_at": "ets",
    "deleted_at": "dts",
    "sent_at": "snt",
    "read_at": "rts",
    "channel": "chn",
    # People
    "user_id": "uid",
    "user_name": "un",
    "username": "unm",
    "role": "rl",
    "sid": "sid",
    # Agents and workflows
    "agent_name": "ag",
    "agent_id": "agid",
    "status": "s",
    "workflow_id": "wid",
    "description": "d",
    "orchestrator": "orch",
    "plan": "p",
    "total_tasks": "tt",
    "tasks": "t",
    "task_id": "tid",
    "assigned_to": "ato",
    "priority": "pri",
    "order": "o",
    "depends_on": "dep",
    "progress": "prg",
    "result": "res",
    "started_at": "sts",
    "completed_at": "cts",
    "expires_at": "xts",
    "duration_ms": "dms",
    # Streaming and models
    "chunk": "ch",
    "is_final": "fin",
    "streaming": "str",
    "model": "mdl",
    "provider": "prv",
    "tokens": "tok",
    "error": "err",
    # Generic
    "id": "id",
    "name": "n",
    "type": "ty",
    "value": "v",
    "key": "k",
    "data": "da",
    "count": "cnt",
}

DEFAULT_TIMESTAMP_FIELDS: frozenset[str] = frozenset(
    {
        "created_at",
        "updated_at",
        "timestamp",
        "deleted_at",
        "edited_at",
        "sent_at",
        "read_at",
        "started_at",
        "completed_at",
        "expires_at",
    }
)


def map_hash(mapping: Mapping[str, str], timestamp_fields: Iterable[str]) -> str:
    """Return the 16-hex-digit ``map_hash`` (protocol section 5) of a map and its stamp fields."""
    text = json.dumps(
        [dict(mapping), sorted(timestamp_fields)], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _problems(mapping: object) -> tuple[dict[str, str], list[str]]:
    if not isinstance(mapping, Mapping):
        kind = type(mapping).__name__
        return {}, [f"a field map must be a mapping of str to str, not {kind}"]
    result: dict[str, str] = {}
    owners: dict[str, str] = {}
    problems: list[str] = []
    for full, short in mapping.items():
        if not isinstance(full, str) or not isinstance(short, str):
            problems.append(f"field map entry {full!r}: {short!r}: names must be str")
            continue
        full, short = str.__str__(full), str.__str__(short)
        if not short:
            problems.append(f"field map entry {full!r}: the short name is empty")
        elif short.startswith("~"):
            problems.append(f"field map entry {full!r}: short name {short!r} starts with '~'")
        elif short in owners:
            problems.append(
                f"field map is not a bijection: {owners[short]!r} and {full!r} "
                f"both map to {short!r}"
            )
        else:
            owners[short] = full
            result[full] = short
    return result, problems


def validate_field_map(mapping: object, timestamp_fields: object = ()) -> list[str]:
    """Return what is wrong with a field map and its timestamp fields, one sentence each.

    An empty list means ``FieldMap(mapping, timestamp_fields)`` accepts them. For system checks,
    which report every problem at once instead of the first one.
    """
    problems = _problems(mapping)[1]
    try:
        _validated_fields(timestamp_fields)  # type: ignore[arg-type]
    except ValueError as exc:
        problems.append(str(exc))
    return problems


def _validated(mapping: Mapping[str, str]) -> dict[str, str]:
    result, problems = _problems(mapping)
    if problems:
        raise ValueError(problems[0])
    return result


def _validated_fields(timestamp_fields: Iterable[str]) -> frozenset[str]:
    fields = None if isinstance(timestamp_fields, str) else list(timestamp_fields)
    if fields is None or not all(isinstance(name, str) for name in fields):
        raise ValueError("timestamp_fields must be an iterable of str (not a str)")
    return frozenset(str.__str__(name) for name in fields)


class FieldMap:
    """An immutable field map: full names to short names, plus the timestamp fields.

    Raises :class:`ValueError` when ``mapping`` is not a bijection of non-empty short names that do
    not start with ``~``, or when a name is not a ``str``.
    """

    __slots__ = ("_hash", "_inverse", "_mapping", "_timestamp_fields")

    def __init__(self, mapping: Mapping[str, str], timestamp_fields: Iterable[str] = ()) -> None:
        self._mapping = _validated(mapping)
        self._inverse = {short: full for full, short in self._mapping.items()}
        self._timestamp_fields = _validated_fields(timestamp_fields)
        self._hash = map_hash(self._mapping, self._timestamp_fields)

    @classmethod
    def default(cls) -> FieldMap:
        """Return the built-in map (:data:`DEFAULT_FIELD_MAP`, :data:`DEFAULT_TIMESTAMP_FIELDS`)."""
        return cls(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS)

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> FieldMap:
        """Return the map that the settings dict ``config`` (``REZNET_WS``) describes.

        ``FIELD_MAP`` and ``TIMESTAMP_FIELDS`` replace the built-in table and fields (``None``, or
        a missing key, keeps them); ``EXTRA_FIELDS`` and ``EXTRA_TIMESTAMP_FIELDS`` are added.
        Raises :class:`ValueError` as the constructor does.
        """
        base = config.get("FIELD_MAP")
        mapping = dict(DEFAULT_FIELD_MAP if base is None else _validated(base))
        mapping.update(_validated(config.get("EXTRA_FIELDS") or {}))
        stamps = config.get("TIMESTAMP_FIELDS")
        fields = set(DEFAULT_TIMESTAMP_FIELDS if stamps is None else _validated_fields(stamps))
        fields.update(_validated_fields(config.get("EXTRA_TIMESTAMP_FIELDS") or ()))
        return cls(mapping, fields)

    @property
    def mapping(self) -> dict[str, str]:
        """Return a copy of the full-name to short-name dict."""
        return dict(self._mapping)

    @property
    def inverse(self) -> dict[str, str]:
        """Return a copy of the short-name to full-name dict."""
        return dict(self._inverse)

    @property
    def timestamp_fields(self) -> frozenset[str]:
        """Return the full names whose values are encoded as timestamps."""
        return self._timestamp_fields

    @property
    def hash(self) -> str:
        """Return the map hash sent as ``map_hash`` (16 hex digits, protocol section 5)."""
        return self._hash

    def extended(self, extra: Mapping[str, str], timestamp_fields: Iterable[str] = ()) -> FieldMap:
        """Return a new map: this one plus ``extra`` (whose entries win for the same full name).

        ``timestamp_fields`` are added to this map's timestamp fields. Raises :class:`ValueError`
        when the result is not a valid map (for example two full names sharing a short name).
        """
        extra = _validated(extra)
        merged = {full: short for full, short in self._mapping.items() if full not in extra}
        merged.update(extra)
        return FieldMap(merged, self._timestamp_fields | _validated_fields(timestamp_fields))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldMap):
            return NotImplemented
        return (self._mapping, self._timestamp_fields) == (
            other._mapping,
            other._timestamp_fields,
        )

    def __hash__(self) -> int:
        return hash(self._hash)

    def __repr__(self) -> str:
        return (
            f"<FieldMap {len(self._mapping)} fields, "
            f"{len(self._timestamp_fields)} timestamp fields, hash {self._hash}>"
        )
