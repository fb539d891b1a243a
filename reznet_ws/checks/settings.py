"""Checks of ``settings.REZNET_WS`` itself: its type, its keys, numeric ranges, the field map.

Ids ``reznet_ws.E001``-``E004``, ``E046``, ``W002``, ``W004``, ``W050`` and ``W051``;
docs/checks.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from ..conf import DEFAULTS

__all__ = ["check_msgpack", "check_settings", "check_zstd"]

_POSITIVE_INTS = (
    "BATCH_SIZE",
    "GZIP_THRESHOLD",
    "MAX_MESSAGE_BYTES",
    "MAX_INFLATE_BYTES",
    "MAX_DEPTH",
    "MAX_PROTOCOL_ERRORS",
    "MAX_BATCH_EVENTS",
    "INCOMING_BURST",
)
_POSITIVE_NUMBERS = ("BATCH_WINDOW", "STATS_FLUSH_INTERVAL")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.REZNET_WS``: type, unknown keys, numeric ranges, the field map."""
    user = getattr(settings, "REZNET_WS", None)
    if user is None:
        return []
    if not isinstance(user, Mapping):
        return [
            Error(
                "REZNET_WS must be a dict.",
                hint="Set REZNET_WS = {...} in settings.",
                id="reznet_ws.E001",
            )
        ]
    messages: list[CheckMessage] = []
    for key in sorted(set(user) - set(DEFAULTS)):
        messages.append(
            Warning(
                f"REZNET_WS has an unknown key {key!r}.",
                hint="See docs/settings.md for the valid keys.",
                id="reznet_ws.W002",
            )
        )
    config = {**DEFAULTS, **user}
    messages.extend(_check_numbers(config))
    messages.extend(_check_incoming_rate(config))
    messages.extend(_check_field_map())
    messages.extend(_check_json_backend(config))
    messages.extend(check_msgpack(config))
    messages.extend(check_zstd(config))
    messages.extend(_check_entities(config))
    return messages


def _check_entities(config: Mapping[str, Any]) -> list[CheckMessage]:
    # reznet_ws.E046: ENTITIES maps member names to id field names; the limits are positive.
    rules = config["ENTITIES"]
    valid = isinstance(rules, Mapping) and all(
        isinstance(name, str) and name and isinstance(field, str) and field
        for name, field in rules.items()
    )
    limits = [config[key] for key in ("ENTITY_MAX_COUNT", "ENTITY_MAX_SIZE")]
    if valid and all(type(value) is int and value > 0 for value in limits):
        return []
    return [
        Error(
            "REZNET_WS['ENTITIES'] must map member names to id field names, and "
            "ENTITY_MAX_COUNT / ENTITY_MAX_SIZE must be positive integers.",
            hint='For example {"author": "author_id"}: see docs/deltas.md, "Entity references".',
            id="reznet_ws.E046",
        )
    ]


def check_zstd(
    config: Mapping[str, Any], available: Callable[[], bool] | None = None
) -> list[CheckMessage]:
    """``reznet_ws.W051``: ``STREAM_ZSTD`` True without zstandard (``available``: a test seam)."""
    from ..codec.stream_zstd import zstd_available

    if config["STREAM_ZSTD"] is True and not (available or zstd_available)():
        return [
            Warning(
                "STREAM_ZSTD is True, but zstandard is not installed: group streams use deflate.",
                hint="pip install 'reznet-ws[zstd]'",
                id="reznet_ws.W051",
            )
        ]
    return []


def check_msgpack(
    config: Mapping[str, Any], available: Callable[[], bool] | None = None
) -> list[CheckMessage]:
    """``reznet_ws.W050``: ``PREFER_MSGPACK`` without msgpack (``available``: a test seam)."""
    from ..codec.msgpack_frames import msgpack_available

    if config["PREFER_MSGPACK"] and not (available or msgpack_available)():
        return [
            Warning(
                "PREFER_MSGPACK is set, but msgpack is not installed: every client gets JSON.",
                hint="pip install 'reznet-ws[msgpack]'",
                id="reznet_ws.W050",
            )
        ]
    return []


def _check_json_backend(config: Mapping[str, Any]) -> list[CheckMessage]:
    from ..codec.fastjson import resolve_backend

    try:
        resolve_backend(config["JSON_BACKEND"])
    except (ImportError, ValueError) as exc:
        return [
            Error(
                str(exc),
                hint="Use 'auto' (orjson when installed), 'orjson' or 'stdlib'.",
                id="reznet_ws.E004",
            )
        ]
    return []


def _check_numbers(config: Mapping[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in _POSITIVE_INTS:
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            messages.append(
                Error(
                    f"REZNET_WS[{key!r}] must be a positive integer, not {value!r}.",
                    hint="See docs/settings.md for what the key sets.",
                    id="reznet_ws.E002",
                )
            )
    for key in _POSITIVE_NUMBERS:
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            messages.append(
                Error(
                    f"REZNET_WS[{key!r}] must be a positive number, not {value!r}.",
                    id="reznet_ws.E002",
                )
            )
    for key, off in (
        ("GC_FREEZE_CONNECTIONS", "the collector policy"),
        ("LISTEN_BACKLOG", "the backlog setting"),
    ):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            messages.append(
                Error(
                    f"REZNET_WS[{key!r}] must be an integer >= 0, not {value!r}.",
                    hint=f"0 turns {off} of reznet-daphne off.",
                    id="reznet_ws.E002",
                )
            )
    level = config["GZIP_LEVEL"]
    if not isinstance(level, int) or not 0 <= level <= 9:
        messages.append(
            Error(f"REZNET_WS['GZIP_LEVEL'] must be 0-9, not {level!r}.", id="reznet_ws.E002")
        )
    saving = config["GZIP_MIN_SAVING"]
    if not isinstance(saving, (int, float)) or not 0 <= saving < 1:
        messages.append(
            Error(
                f"REZNET_WS['GZIP_MIN_SAVING'] must be in [0, 1), not {saving!r}.",
                id="reznet_ws.E002",
            )
        )
    return messages


def _check_incoming_rate(config: Mapping[str, Any]) -> list[CheckMessage]:
    rate = config["INCOMING_RATE"]
    if rate is not None and (
        not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0
    ):
        return [
            Error(
                f"REZNET_WS['INCOMING_RATE'] must be a positive number or None, not {rate!r}.",
                hint="Events a second each connection may send; None turns the limit off.",
                id="reznet_ws.E002",
            )
        ]
    burst, batch = config["INCOMING_BURST"], config["MAX_BATCH_EVENTS"]
    numbers = all(isinstance(n, int) and not isinstance(n, bool) for n in (burst, batch))
    if rate is not None and numbers and 0 < burst < batch:
        return [
            Warning(
                f"REZNET_WS['INCOMING_BURST'] ({burst}) is below MAX_BATCH_EVENTS ({batch}): "
                "a batch frame of more than INCOMING_BURST events is never dispatched whole.",
                hint="Raise INCOMING_BURST to at least MAX_BATCH_EVENTS, or lower the latter.",
                id="reznet_ws.W004",
            )
        ]
    return []


def _check_field_map() -> list[CheckMessage]:
    from ..encoding import default_field_map

    try:
        default_field_map()
    except (ValueError, TypeError) as exc:
        return [
            Error(
                f"The configured field map is invalid: {exc}",
                hint="FIELD_MAP/EXTRA_FIELDS must map unique full names to unique, "
                "non-empty short names that do not start with '~'.",
                id="reznet_ws.E003",
            )
        ]
    return []
