"""Write the conformance vectors shared by the Python codec and the JavaScript client.

Run from the repository root: ``python tests/vectors/generate.py``. It writes
``tests/vectors/vectors.json``, ``tests/vectors/timestamps.json``, ``tests/vectors/content.json``
(content frames, protocol section 3.1), ``tests/vectors/msgpack.json`` (the MessagePack encoding,
section 7, built by msgpack_vectors.py), ``tests/vectors/delta.json`` (keyed and delta frames,
section 3.2) and ``docs/field-map.md``;
the output is deterministic, and tests/test_codec_vectors.py fails when the committed files differ
from a fresh run. ``--out DIR`` and ``--doc PATH`` write elsewhere.

Every vector is checked while it is generated: decoding its frame must give exactly what parsing
the v1 frame gives (``expected``).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import json
import random
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from reznet_ws.codec import (  # noqa: E402
    DEFAULT_FIELD_MAP,
    DEFAULT_TIMESTAMP_FIELDS,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    Codec,
    FieldMap,
    encode_timestamp,
    format_timestamp,
)
from reznet_ws.codec.compression import gzip_compress  # noqa: E402
from reznet_ws.codec.content import (  # noqa: E402
    content_frame,
    decode_content_frame,
    encode_content,
    encode_v1_content,
)
from reznet_ws.codec.errors import ProtocolError  # noqa: E402

__all__ = [
    "build_content_vectors",
    "build_timestamps",
    "build_vectors",
    "main",
    "render_field_map_doc",
    "write_all",
]

# The standard library writes the frames, so the files are the same with or without orjson.
DEFAULT = Codec(json_backend="stdlib")


class Case(NamedTuple):
    name: str
    description: str
    event: str | None = None
    data: object = None


# ---------------------------------------------------------------------------------------------
# The cases. Generation fails when a name is used twice.

_MESSAGE = {
    "message_id": "7f1c2a9e-4b7d-4c1e-9a51-3f2e8d6b0c11",
    "channel_id": "general",
    "author_type": "user",
    "author_name": "Alice Example",
    "author_id": 1234,
    "content": "Hello everyone, the deploy finished.",
    "created_at": "2025-10-25T12:00:00.123Z",
    "updated_at": None,
    "in_reply_to": None,
    "metadata": {"client": "web", "edited": False, "mentions": ["bob"], "tokens": 17},
    "reactions": [],
    "status": "sent",
}
_PLAN = {
    "workflow_id": "wf-9",
    "orchestrator": "planner",
    "plan": {
        "description": "Refactor the billing module",
        "total_tasks": 3,
        "tasks": [
            {"id": 1, "name": "scan", "order": 1, "depends_on": [], "status": "done"},
            {"id": 2, "name": "edit", "order": 2, "depends_on": [1], "status": "running"},
            {"id": 3, "name": "test", "order": 3, "depends_on": [2], "status": "pending"},
        ],
    },
    "timestamp": "2025-10-25T12:00:00Z",
}
_SHORTS = sorted(set(DEFAULT_FIELD_MAP.values()) - set(DEFAULT_FIELD_MAP))


def _nest(depth: int, leaf: object) -> object:
    value = leaf
    for level in range(depth):
        value = {"content": value} if level % 2 else [value, level]
    return value


def _stamp(iso: object, field: str = "created_at") -> dict[str, object]:
    return {field: iso, "id": 1}


_UTC = datetime.UTC
_PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
_DT = datetime.datetime(2025, 10, 25, 12, 0, 0, tzinfo=_UTC)

EVENTS: list[Case] = [
    # Abbreviation
    Case(
        "chat-message",
        "a typical chat message, keys abbreviated at every depth",
        "message_new",
        _MESSAGE,
    ),
    Case("agent-plan", "a workflow plan: nested objects in a list", "plan_created", _PLAN),
    Case(
        "stream-chunk",
        "a streaming chunk",
        "message_chunk",
        {"message_id": "m1", "chunk": "Hel", "is_final": False, "streaming": True, "sequence": 3},
    ),
    Case(
        "every-default-field",
        "every full name of the default map, once",
        "all_fields",
        {
            full: (
                f"{full}-value" if full not in DEFAULT_TIMESTAMP_FIELDS else "2025-10-25T12:00:00Z"
            )
            for full in sorted(DEFAULT_FIELD_MAP)
        },
    ),
    Case(
        "identity-short-names",
        "id and sid map to themselves",
        "ids",
        {"id": 5, "sid": "abc", "n": 1},
    ),
    Case(
        "unknown-keys",
        "keys outside the map are sent unchanged",
        "custom",
        {"foo": 1, "bar_baz": [1, 2], "Content": "case matters", "contents": "x"},
    ),
    Case(
        "values-are-not-abbreviated",
        "values equal to full names stay as they are",
        "values",
        {"type": "content", "name": "message_id", "value": ["created_at", "c", "~c"]},
    ),
    Case(
        "nested-mapped-keys",
        "mapped keys three levels down",
        "nested",
        {"metadata": {"data": {"value": {"key": "k", "name": "n"}}}},
    ),
    Case(
        "list-of-objects",
        "objects inside arrays inside arrays",
        "lists",
        {"tasks": [[{"id": 1}], [{"name": "x"}, {"type": "y"}]], "data": [[], [[]]]},
    ),
    Case("empty-object", "an empty object", "empty", {}),
    Case("empty-array", "an empty array as DATA", "empty_list", []),
    Case("data-null", "null as DATA", "nothing", None),
    Case(
        "data-string",
        "a string as DATA (no key, so never a timestamp)",
        "text",
        "2025-10-25T12:00:00Z",
    ),
    Case("data-integer", "a number as DATA", "number", 42),
    Case("data-float", "a float as DATA", "float", 2.5),
    Case("data-true", "true as DATA", "flag", True),
    Case("data-false", "false as DATA", "flag", False),
    Case(
        "data-array-of-objects", "an array of objects as DATA", "rows", [{"content": 1}, {"c": 2}]
    ),
    # Escapes
    Case(
        "short-and-full-name",
        "a key equal to a short name is escaped",
        "escape",
        {"c": 1, "content": 2},
    ),
    Case(
        "every-short-name-as-key",
        "every short name that is not also a full name, as a key",
        "escape_all",
        {short: index for index, short in enumerate(_SHORTS)},
    ),
    Case(
        "tilde-keys",
        "keys starting with ~ get one more ~",
        "tilde",
        {"~": 1, "~~": 2, "~~a": 3, "~c": 4, "~content": 5, "~ts": 6, "a~": 7},
    ),
    Case(
        "reserved-frame-keys",
        "the frame's own keys inside DATA",
        "reserved",
        {"_v": 2, "e": "x", "d": {"d": 1}, "b": [], "r": 1},
    ),
    Case(
        "data-looks-like-frame",
        "DATA shaped like a v2 frame",
        "fake",
        {"_v": 2, "e": "fake", "d": {"c": 1, "content": "x"}},
    ),
    Case(
        "data-looks-like-batch",
        "DATA shaped like a v2 batch",
        "fake_batch",
        {"_v": 2, "b": [["e", {}]]},
    ),
    Case("empty-key", "the empty string as a key", "empty_key", {"": 1, "~": 2}),
    Case(
        "unicode-keys",
        "keys in other scripts and outside the BMP",
        "unicode_keys",
        {"ключ": 1, "键": 2, "\U0001f600": 3, "e\u0301": 4, "\u00e9": 5},
    ),
    Case(
        "keys-needing-escapes",
        "quotes, backslashes and control characters in keys",
        "escaped_keys",
        {'a"b': 1, "back\\slash": 2, "new\nline": 3, "\u0000": 4, "tab\t": 5, "\u2028": 6},
    ),
    Case(
        "lone-surrogates",
        "lone surrogates force an ASCII-escaped frame",
        "surrogates",
        {"\ud800": "\udfff", "content": "a\ud83dz", "ok": "\U0001f600"},
    ),
    Case(
        "prototype-keys",
        "keys that are special in JavaScript objects",
        "proto",
        {
            "__proto__": {"polluted": True},
            "constructor": 1,
            "toString": 2,
            "hasOwnProperty": 3,
            "valueOf": 4,
            "__defineGetter__": 5,
            "prototype": 6,
        },
    ),
    Case(
        "prototype-keys-as-timestamps",
        "__proto__ and friends under a timestamp field",
        "proto_ts",
        {"created_at": {"__proto__": 1, "constructor": "2025-10-25T12:00:00Z"}},
    ),
    Case(
        "integer-like-keys",
        "keys JavaScript orders numerically",
        "int_keys",
        {"b": 0, "1": "a", "0": "b", "-1": "c", "01": "d", "4294967295": "e", "1.5": "f"},
    ),
    Case(
        "python-non-string-keys",
        "int, float, bool and None keys become strings as in v1",
        "py_keys",
        {3: "a", 2.5: "b", True: "c", None: "d", -0.0: "e", float("nan"): "f", float("inf"): "g"},
    ),
    Case(
        "duplicate-after-normalization",
        "1 and '1' are one key; the last value wins",
        "dup_keys",
        {1: "first", "x": 0, "1": "second"},
    ),
    # Values
    Case(
        "string-escapes",
        "strings with quotes, backslashes, control and separator characters",
        "strings",
        {"content": 'q"b\\s/\b\f\n\r\t\u0001\u001f\u007f\u2028\u2029'},
    ),
    Case(
        "unicode-strings",
        "non-ASCII text stays UTF-8 in the frame",
        "unicode",
        {"content": "héllo wörld, 你好, привет, \U0001f600\U0001f44d\U0001f3fd, \u200d\ufeff"},
    ),
    Case(
        "huge-integers",
        "integers beyond 2^53 (JavaScript rounds both sides alike)",
        "big",
        {"n": [2**53, 2**53 + 1, -(2**53 + 1), 10**30, 2**64, -(2**63)]},
    ),
    Case(
        "floats",
        "floats as Python writes them",
        "floats",
        {"v": [0.1, 1e300, -0.0, 5e-324, 1.5e-7, 1e16, 1.0, 123456789.125, -2.5e-308]},
    ),
    Case(
        "scalars",
        "true, false and null in objects and arrays",
        "scalars",
        {"a": True, "b": False, "c": None, "d": [True, False, None]},
    ),
    Case(
        "deep-nesting",
        "50 levels of objects and arrays",
        "deep",
        _nest(50, {"created_at": "2025-10-25T12:00:00Z"}),
    ),
    Case("long-string", "a 3000-character string", "long", {"content": "abc\u00e9" * 750}),
    Case(
        "many-keys", "an object with 200 keys", "wide", {f"k{index}": index for index in range(200)}
    ),
    Case("event-name-unicode", "a non-ASCII event name", "nachricht_ü_\U0001f600", {"c": 1}),
    Case("event-name-escapes", "an event name with quotes and a backslash", 'ev"ent\\name', {}),
    Case("event-name-empty", "the empty event name", "", {"id": 1}),
    Case(
        "event-name-short-name", "event names are never abbreviated or escaped", "content", {"~": 1}
    ),
    Case("event-name-lone-surrogate", "an event name with a lone surrogate", "ev\udc00", None),
    # Python values, normalized as v1 (DjangoJSONEncoder) writes them
    Case(
        "python-datetimes",
        "datetime values as DjangoJSONEncoder writes them, then encoded",
        "py_dt",
        {
            "created_at": _DT,
            "updated_at": _DT.replace(microsecond=123456),
            "timestamp": _DT.astimezone(_PLUS2),
            "sent_at": _DT.replace(tzinfo=None),
            "other": _DT.replace(microsecond=500),
        },
    ),
    Case(
        "python-other-types",
        "date, time, timedelta, Decimal, UUID, tuple",
        "py_other",
        {
            "d": datetime.date(2025, 10, 25),
            "t": datetime.time(12, 30, 0, 250000),
            "dur": datetime.timedelta(days=1, seconds=5, microseconds=7),
            "price": decimal.Decimal("12.50"),
            "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "pair": (1, "two"),
        },
    ),
]

# Timestamp fields: created_at (ts), updated_at (uts), timestamp (tms), ...
_TS_CASES: list[tuple[str, str, object]] = [
    ("ts-django-utc", "DjangoJSONEncoder, aware UTC: ms", "2025-10-25T12:00:00Z"),
    ("ts-django-utc-ms", "DjangoJSONEncoder with milliseconds: ms", "2025-10-25T12:00:00.123Z"),
    ("ts-js-toisostring", "Date.toISOString(), .000: [ms,1,null]", "2025-10-25T12:00:00.000Z"),
    (
        "ts-js-toisostring-ms",
        "Date.toISOString() with milliseconds: ms",
        "2025-10-25T12:00:00.456Z",
    ),
    ("ts-drf-microseconds", "DRF with microseconds: [ms,2,null]", "2025-10-25T12:00:00.123000Z"),
    ("ts-offset-plus", "isoformat() with +02:00", "2025-10-25T14:00:00+02:00"),
    ("ts-offset-minus", "isoformat() with -05:30", "2025-10-25T06:30:00-05:30"),
    ("ts-offset-zero", "+00:00 is kept, not turned into Z", "2025-10-25T12:00:00+00:00"),
    ("ts-offset-ms", "offset with milliseconds", "2025-10-25T14:00:00.007+02:00"),
    ("ts-offset-ms-zero", "offset with .000", "2025-10-25T14:00:00.000+02:00"),
    ("ts-offset-microseconds", "offset with microseconds", "2025-10-25T14:00:00.999000+02:00"),
    ("ts-offset-max", "the largest offset", "2025-10-25T12:00:00+23:59"),
    ("ts-offset-min", "the smallest offset", "2025-10-25T12:00:00-23:59"),
    ("ts-naive", "naive (USE_TZ=False): [ms,0,false]", "2025-10-25T12:00:00"),
    ("ts-naive-ms", "naive with milliseconds", "2025-10-25T12:00:00.500"),
    ("ts-naive-ms-zero", "naive with .000", "2025-10-25T12:00:00.000"),
    ("ts-naive-microseconds", "naive with microseconds", "2025-10-25T12:00:00.001000"),
    ("ts-epoch", "the epoch itself encodes to 0", "1970-01-01T00:00:00Z"),
    ("ts-before-epoch", "negative milliseconds", "1969-12-31T23:59:59.999Z"),
    ("ts-year-1", "the first instant of year 0001", "0001-01-01T00:00:00Z"),
    (
        "ts-year-1-offset",
        "year 0001 with an offset (ms before year 1 UTC)",
        "0001-01-01T00:00:00+01:00",
    ),
    ("ts-year-99", "a two-digit year, written with four digits", "0099-06-15T08:09:10.011Z"),
    ("ts-year-9999", "the last millisecond of year 9999", "9999-12-31T23:59:59.999Z"),
    ("ts-leap-day", "29 February of a leap year", "2024-02-29T00:00:00Z"),
    ("ts-leap-day-2000", "29 February 2000", "2000-02-29T23:59:59Z"),
    ("ts-pass-lowercase-t", "lowercase t stays a string", "2025-10-25t12:00:00Z"),
    ("ts-pass-lowercase-z", "lowercase z stays a string", "2025-10-25T12:00:00z"),
    ("ts-pass-minus-zero", "-00:00 stays a string", "2025-10-25T12:00:00-00:00"),
    (
        "ts-pass-offset-seconds",
        "an offset with seconds stays a string",
        "2025-10-25T12:00:00+05:30:15",
    ),
    (
        "ts-pass-odd-microseconds",
        "microseconds not a multiple of 1000",
        "2025-10-25T12:00:00.123456Z",
    ),
    ("ts-pass-zero-microseconds", ".000000 stays a string", "2025-10-25T12:00:00.000000Z"),
    ("ts-pass-one-digit-fraction", "one fraction digit", "2025-10-25T12:00:00.1Z"),
    ("ts-pass-seven-digit-fraction", "seven fraction digits", "2025-10-25T12:00:00.1230000Z"),
    ("ts-pass-hour-24", "hour 24", "2025-10-25T24:00:00Z"),
    ("ts-pass-second-60", "a leap second", "2016-12-31T23:59:60Z"),
    ("ts-pass-february-30", "an impossible date", "2025-02-30T12:00:00Z"),
    ("ts-pass-february-29", "29 February of a common year", "2023-02-29T12:00:00Z"),
    ("ts-pass-year-0", "year 0000", "0000-01-01T00:00:00Z"),
    ("ts-pass-year-5-digits", "a five-digit year", "+10000-01-01T00:00:00Z"),
    ("ts-pass-space-separator", "a space instead of T", "2025-10-25 12:00:00Z"),
    ("ts-pass-no-seconds", "no seconds", "2025-10-25T12:00Z"),
    ("ts-pass-date-only", "a date", "2025-10-25"),
    ("ts-pass-offset-no-colon", "+0200", "2025-10-25T12:00:00+0200"),
    ("ts-pass-offset-24", "offset hour 24", "2025-10-25T12:00:00+24:00"),
    ("ts-pass-trailing-space", "a trailing space", "2025-10-25T12:00:00Z "),
    ("ts-pass-unicode-digits", "Arabic-Indic digits", "\u0662\u0660\u0662\u0665-10-25T12:00:00Z"),
    ("ts-pass-text", "a plain string", "yesterday"),
    ("ts-pass-empty", "the empty string", ""),
    ("ts-int", "a number is wrapped: [v]", 1761393600000),
    ("ts-int-zero", "0 is wrapped: [0]", 0),
    ("ts-negative", "a negative number is wrapped", -5),
    ("ts-float", "a float is wrapped", 1761393600.5),
    ("ts-huge-int", "a huge integer is wrapped", 2**70),
    ("ts-array", "an array is wrapped: [[1,2,3]] is not [ms,frac,tz]", [1, 2, 3]),
    ("ts-array-looks-encoded", "an array that looks like an encoding", [1761393600000, 1, None]),
    ("ts-array-one", "a one-element array", ["2025-10-25T12:00:00Z"]),
    ("ts-array-empty", "an empty array", []),
    ("ts-array-nested", "arrays in arrays", [[1], [[2]]]),
    (
        "ts-array-of-objects",
        "objects inside a wrapped array are encoded",
        [{"content": 1, "created_at": "2025-10-25T12:00:00Z"}],
    ),
    (
        "ts-object",
        "an object value is encoded as DATA",
        {"content": "x", "created_at": "2025-10-25T12:00:00Z"},
    ),
    ("ts-null", "null stays null", None),
    ("ts-true", "true stays true", True),
    ("ts-false", "false stays false", False),
]
for _name, _description, _value in _TS_CASES:
    EVENTS.append(Case(_name, _description, "stamp", _stamp(_value)))
EVENTS += [
    Case(
        "ts-every-field",
        "every default timestamp field",
        "stamps",
        {field: "2025-10-25T12:00:00Z" for field in sorted(DEFAULT_TIMESTAMP_FIELDS)},
    ),
    Case(
        "ts-same-instant-all-forms",
        "one instant in every form",
        "stamps",
        {
            "created_at": "2025-10-25T12:00:00Z",
            "updated_at": "2025-10-25T12:00:00.000Z",
            "timestamp": "2025-10-25T14:00:00+02:00",
            "sent_at": "2025-10-25T12:00:00",
            "read_at": "2025-10-25T12:00:00.000000Z",
        },
    ),
    Case(
        "ts-escaped-key",
        "~created_at is not a timestamp field",
        "stamps",
        {"~created_at": "2025-10-25T12:00:00Z", "created_at": "2025-10-25T12:00:00Z"},
    ),
    Case(
        "ts-short-name-key",
        "a key equal to the short name ts is escaped and not a timestamp",
        "stamps",
        {"ts": "2025-10-25T12:00:00Z", "tms": 5, "uts": [1]},
    ),
    Case(
        "ts-in-list-of-objects",
        "timestamps in objects in arrays",
        "stamps",
        {
            "tasks": [
                {"started_at": "2025-10-25T12:00:00Z", "completed_at": None},
                {"started_at": 7, "completed_at": "2025-10-25T12:00:01.5"},
            ]
        },
    ),
    Case(
        "ts-nested-in-timestamp",
        "a timestamp field inside a timestamp field",
        "stamps",
        {"updated_at": {"updated_at": {"updated_at": "2025-10-25T12:00:00Z"}}},
    ),
    Case(
        "ts-not-top-level-in-arrays",
        "ISO strings in plain arrays are not converted",
        "stamps",
        {"value": ["2025-10-25T12:00:00Z"], "content": "2025-10-25T12:00:00Z"},
    ),
]

RAW: list[Case] = [
    Case(
        "raw-connection-established",
        "the first frame on v2, with the field map",
        "connection_established",
        {
            "version": 2,
            "protocol": "reznet.v2",
            "features": {
                "payload_optimization": True,
                "field_abbreviation": True,
                "timestamps": True,
                "gzip_compression": True,
                "message_batching": True,
                "permessage_deflate": False,
            },
            "map_hash": FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS).hash,
            "field_map": DEFAULT_FIELD_MAP,
            "timestamp_fields": sorted(DEFAULT_TIMESTAMP_FIELDS),
        },
    ),
    Case(
        "raw-connection-established-cached",
        "connection_established when the client's map is current",
        "connection_established",
        {
            "version": 2,
            "protocol": "reznet.v2",
            "features": {"gzip_compression": False},
            "map_hash": FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS).hash,
        },
    ),
    Case(
        "raw-error",
        "an error event",
        "error",
        {"code": "malformed_json", "detail": "Expecting value"},
    ),
    Case(
        "raw-stats-response",
        "a stats response",
        "stats_response",
        {"messages_sent": 10, "bytes_saved": 2048, "ratio": 0.42},
    ),
    Case(
        "raw-not-abbreviated",
        "raw DATA keeps full keys, short-name keys and ISO strings",
        "raw_event",
        {"content": "x", "c": 1, "~": 2, "created_at": "2025-10-25T12:00:00Z", "updated_at": 5},
    ),
    Case(
        "raw-lone-surrogate", "raw DATA with a lone surrogate", "raw_event", {"content": "\ud800"}
    ),
    Case("raw-unicode", "raw DATA with non-ASCII text", "raw_event", {"content": "ü\U0001f600"}),
]

BATCHES: list[tuple[str, str, list[tuple[str, object]]]] = [
    (
        "batch-two-events",
        "two events in order",
        [("message_new", _MESSAGE), ("typing", {"user_name": "bob"})],
    ),
    ("batch-one-event", "a batch of one", [("message_new", {"content": "hi"})]),
    ("batch-empty", "an empty batch", []),
    (
        "batch-same-event-twice",
        "the same event twice, order kept",
        [
            ("message_chunk", {"chunk": "a", "sequence": 1}),
            ("message_chunk", {"chunk": "b", "sequence": 2}),
        ],
    ),
    (
        "batch-escapes-and-stamps",
        "escapes and timestamps in a batch",
        [
            ("x", {"c": 1, "content": 2, "~": 3}),
            ("y", {"created_at": "2025-10-25T12:00:00.000Z", "timestamp": 5}),
        ],
    ),
    (
        "batch-scalar-data",
        "non-object DATA in a batch",
        [("a", None), ("b", 1), ("c", "s"), ("d", [1])],
    ),
    (
        "batch-unicode-events",
        "non-ASCII event names and data",
        [("ü", {"content": "é"}), ("\U0001f600", {})],
    ),
    (
        "batch-fifty",
        "fifty events",
        [("tick", {"sequence": index, "value": index * 0.5}) for index in range(50)],
    ),
    (
        "batch-lone-surrogate",
        "an entry with a lone surrogate (the whole frame is ASCII-escaped)",
        [("a", {"content": "ok"}), ("b", {"content": "\udbff"})],
    ),
]

_BIG = {
    "messages": [
        dict(_MESSAGE, sequence=index, content=f"message number {index} " * 3)
        for index in range(60)
    ]
}
GZIP_CASES: list[tuple[str, str, list[tuple[str, object]], str]] = [
    (
        "gzip-event-large",
        "a large event, compressed as the server does it",
        [("history", _BIG)],
        "finalize-event",
    ),
    (
        "gzip-event-small",
        "a small gzip event frame (any binary frame must be inflated)",
        [("message_new", _MESSAGE)],
        "event",
    ),
    (
        "gzip-batch-small",
        "a small gzip batch frame",
        [("a", {"c": 1}), ("b", {"created_at": "2025-10-25T12:00:00Z"})],
        "batch",
    ),
    (
        "gzip-batch-large",
        "a large batch, compressed as the server does it",
        [("message_new", dict(_MESSAGE, sequence=index)) for index in range(40)],
        "finalize-batch",
    ),
    ("gzip-unicode", "gzip content is UTF-8", [("ü", {"content": "你好 \U0001f600"})], "event"),
    ("gzip-raw", "a gzip raw frame", [("stats_response", {"content": "not abbreviated"})], "raw"),
]

LEGACY: list[Case] = [
    Case(
        "legacy-message",
        "a v1 frame: full keys, ISO strings, json.dumps spacing",
        "message_new",
        _MESSAGE,
    ),
    Case(
        "legacy-short-name-keys",
        "v1 keys are never decoded",
        "x",
        {"c": 1, "~c": 2, "ts": 3, "mid": 4},
    ),
    Case(
        "legacy-nested-v",
        "_v inside DATA does not make a frame v2",
        "x",
        {"_v": 2, "e": "y", "d": 1},
    ),
    Case(
        "legacy-timestamps",
        "v1 timestamps stay strings",
        "x",
        {"created_at": "2025-10-25T12:00:00Z", "updated_at": 5},
    ),
    Case(
        "legacy-unicode",
        "v1 escapes non-ASCII as \\uXXXX",
        "ü",
        {"content": "你好 \U0001f600 \ud800"},
    ),
    Case(
        "legacy-error",
        "a v1 error event",
        "error",
        {"code": "too_large", "detail": "frame exceeds 1048576 bytes"},
    ),
    Case(
        "legacy-connection-established",
        "connection_established on v1",
        "connection_established",
        {"version": 1, "features": {"payload_optimization": False}},
    ),
    Case(
        "legacy-plain-object",
        "any object without _v is passed through",
        None,
        {"type": "pong", "n": 1},
    ),
    Case("legacy-empty-object", "the empty object", None, {}),
]

_CUSTOM_STAMP = {"id": 1, "when": "2025-10-25T12:00:00Z", "w": "2025-10-25T12:00:00Z"}
CUSTOM_MAPS: list[tuple[Case, dict[str, str], list[str]]] = [
    (
        Case(
            "custom-empty-map",
            "no abbreviation, but ~ keys are still escaped",
            "e",
            {"content": 1, "~": 2, "~x": 3, "created_at": "2025-10-25T12:00:00Z"},
        ),
        {},
        [],
    ),
    (
        Case(
            "custom-chain",
            "a full name that is another entry's short name: a->b, b->c",
            "e",
            {"a": 1, "b": 2, "c": 3, "~b": 4},
        ),
        {"a": "b", "b": "c"},
        [],
    ),
    (
        Case("custom-swap", "two names swapped: a->b, b->a", "e", {"a": 1, "b": 2}),
        {"a": "b", "b": "a"},
        [],
    ),
    (
        Case(
            "custom-tilde-full-name",
            "a full name starting with ~",
            "e",
            {"~x": 1, "x": 2, "~~x": 3},
        ),
        {"~x": "x"},
        [],
    ),
    (
        Case(
            "custom-unmapped-timestamp",
            "a timestamp field without a short name",
            "e",
            _CUSTOM_STAMP,
        ),
        {"id": "i"},
        ["when"],
    ),
    (
        Case(
            "custom-timestamp-is-short-name",
            "a timestamp field equal to another field's short name",
            "e",
            {
                "w": "2025-10-25T12:00:00Z",
                "when": "2025-10-25T12:00:00.000Z",
                "~w": "2025-10-25T12:00:00Z",
            },
        ),
        {"when": "w"},
        ["w"],
    ),
    (
        Case(
            "custom-unicode-names",
            "non-ASCII full and short names",
            "e",
            {"ключ": 1, "к": 2, "время": "2025-10-25T12:00:00Z"},
        ),
        {"ключ": "к", "время": "в"},
        ["время"],
    ),
    (
        Case(
            "custom-reserved-short-names",
            "short names equal to frame keys",
            "e",
            {"version": 1, "_v": 2, "event": "x", "e": 3},
        ),
        {"version": "_v", "event": "e"},
        [],
    ),
    (
        Case("custom-empty-full-name", "the empty key as a full name", "e", {"": 1, "z": 2}),
        {"": "z"},
        [],
    ),
    (
        Case(
            "custom-prototype-names",
            "JavaScript prototype names in the map",
            "e",
            {"constructor": 1, "__proto__": 2, "toString": "2025-10-25T12:00:00Z", "c": 3},
        ),
        {"constructor": "c", "__proto__": "p"},
        ["toString"],
    ),
    (
        Case(
            "custom-extended-default",
            "the default map extended by an application",
            "e",
            {
                "content": 1,
                "c": 2,
                "invoice_total": 3.5,
                "paid_at": "2025-10-25T12:00:00Z",
                "it": 4,
            },
        ),
        FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS)
        .extended({"invoice_total": "it", "paid_at": "pa"}, ["paid_at"])
        .mapping,
        sorted(DEFAULT_TIMESTAMP_FIELDS | {"paid_at"}),
    ),
    (
        Case(
            "custom-override-default",
            "an application renames a default entry",
            "e",
            {"content": "x", "c": 1, "body": 2},
        ),
        FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS).extended({"content": "body"}).mapping,
        sorted(DEFAULT_TIMESTAMP_FIELDS),
    ),
]

# Frames written by hand, as another encoder might write them: decoders must agree on these too.
HAND_WRITTEN: list[tuple[str, str, str, list[dict[str, object]]]] = [
    (
        "decoder-integral-floats",
        "1.0e3 and 1.0 are integers in JSON: timestamp numbers may be written so",
        '{"_v":2,"e":"stamp","d":{"ts":1.0e3,"uts":[1761393600000.0,1.0,120.0],"tms":1.5}}',
        [
            {
                "event": "stamp",
                "data": {
                    "created_at": "1970-01-01T00:00:01Z",
                    "updated_at": "2025-10-25T14:00:00.000+02:00",
                    "timestamp": 1.5,
                },
            }
        ],
    ),
    (
        "decoder-lenient-timestamp-values",
        "values of timestamp fields that are no encoding are decoded as DATA",
        '{"_v":2,"e":"stamp","d":{"ts":[1,2],"uts":{"c":1},"tms":"x","dts":[1,2,3,4]}}',
        [
            {
                "event": "stamp",
                "data": {
                    "created_at": [1, 2],
                    "updated_at": {"content": 1},
                    "timestamp": "x",
                    "deleted_at": [1, 2, 3, 4],
                },
            }
        ],
    ),
    (
        "decoder-whitespace-and-key-order",
        "insignificant whitespace and any order of the frame keys",
        '{ "d" : { "c" : 1 } ,\n "e" : "x" , "_v" : 2 }',
        [{"event": "x", "data": {"content": 1}}],
    ),
    (
        "decoder-numbers-written-as-floats",
        "_v 2.0 and r 1e0 are the numbers 2 and 1",
        '{"_v":2.0,"e":"x","r":1e0,"d":{"c":1}}',
        [{"event": "x", "data": {"c": 1}}],
    ),
    (
        "decoder-null-raw-flag",
        "r null is the same as no r",
        '{"_v":2,"e":"x","r":null,"d":{"c":1}}',
        [{"event": "x", "data": {"content": 1}}],
    ),
    (
        "decoder-unknown-frame-keys",
        "unknown keys of a frame are ignored",
        '{"_v":2,"e":"x","d":1,"future":{"c":1}}',
        [{"event": "x", "data": 1}],
    ),
    (
        "decoder-escaped-event-name",
        "the event name written with escapes",
        '{"_v":2,"e":"\\u0061b\\u00fc","d":{"\\u0063":1}}',
        [{"event": "ab\u00fc", "data": {"content": 1}}],
    ),
    (
        "decoder-duplicate-keys",
        "a key repeated in DATA: the last value wins, as in JSON.parse",
        '{"_v":2,"e":"x","d":{"c":1,"c":2,"~c":3,"~c":4}}',
        [{"event": "x", "data": {"content": 2, "c": 4}}],
    ),
]

TIMESTAMP_FORMS: list[str] = [
    iso for _, _, iso in _TS_CASES if isinstance(iso, str) and encode_timestamp(iso) is not None
]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _v1_data(codec: Codec, event: str, data: object) -> object:
    return json.loads(codec.encode_v1(event, data))["data"]


def _checked(vector: dict[str, object], codec: Codec, frame: str | bytes) -> dict[str, object]:
    if vector["legacy"]:  # passed through untouched: the parsed frame itself
        assert isinstance(frame, str)
        got = [json.loads(frame)]
    else:
        got = [{"event": event, "data": data} for event, data in codec.decode_frame(frame)]
    if _canonical(got) != _canonical(vector["expected"]):
        raise AssertionError(f"vector {vector['name']}: decoded {got!r}")
    return vector


def _vector(
    case: Case, codec: Codec, frame: str | bytes, expected: Sequence[object], legacy: bool = False
) -> dict[str, object]:
    vector: dict[str, object] = {"name": case.name, "description": case.description}
    if isinstance(frame, str):
        vector["frame"] = {"type": "text", "data": frame}
    else:
        vector["frame"] = {"type": "binary", "base64": base64.b64encode(frame).decode("ascii")}
    if codec.field_map is not DEFAULT.field_map:
        vector["field_map"] = codec.field_map.mapping
        vector["timestamp_fields"] = sorted(codec.field_map.timestamp_fields)
    vector["legacy"] = legacy
    vector["expected"] = expected
    return _checked(vector, codec, frame)


def _event_vectors() -> Iterator[dict[str, object]]:
    for case in EVENTS:
        event = _event(case)
        frame = DEFAULT.encode_event(event, case.data)
        yield _vector(case, DEFAULT, frame, [_expected(DEFAULT, event, case.data)])
    for case in RAW:
        event = _event(case)
        frame = DEFAULT.raw_frame(event, case.data)
        yield _vector(case, DEFAULT, frame, [_expected(DEFAULT, event, case.data)])
    for name, description, items in BATCHES:
        frame = DEFAULT.batch_frame([(e, DEFAULT.encode_data(d)) for e, d in items])
        expected = [_expected(DEFAULT, e, d) for e, d in items]
        yield _vector(Case(name, description), DEFAULT, frame, expected)


def _event(case: Case) -> str:
    assert case.event is not None, case.name
    return case.event


def _expected(codec: Codec, event: str, data: object) -> dict[str, object]:
    return {"event": event, "data": _v1_data(codec, event, data)}


def _gzip_vectors() -> Iterator[dict[str, object]]:
    for name, description, items, kind in GZIP_CASES:
        shape = kind.removeprefix("finalize-")
        if shape == "batch":
            text = DEFAULT.batch_frame([(e, DEFAULT.encode_data(d)) for e, d in items])
        elif shape == "raw":
            text = DEFAULT.raw_frame(*items[0])
        else:
            text = DEFAULT.encode_event(*items[0])
        if kind.startswith("finalize-"):  # as the server sends it: big enough, and worth it
            frame, binary = DEFAULT.finalize(text)
            assert binary, name
        else:
            frame = gzip_compress(text.encode("utf-8"))
        assert isinstance(frame, bytes)
        expected = [_expected(DEFAULT, e, d) for e, d in items]
        yield _vector(Case(name, description), DEFAULT, frame, expected)


def _legacy_vectors() -> Iterator[dict[str, object]]:
    for case in LEGACY:
        if case.event is None:  # any JSON object without "_v", written as given
            frame = json.dumps(case.data)
        else:
            frame = DEFAULT.encode_v1(case.event, case.data)
        yield _vector(case, DEFAULT, frame, [json.loads(frame)], legacy=True)


def _hand_written_vectors() -> Iterator[dict[str, object]]:
    for name, description, frame, expected in HAND_WRITTEN:
        yield _vector(Case(name, description), DEFAULT, frame, list(expected))


def _custom_vectors() -> Iterator[dict[str, object]]:
    for case, mapping, stamps in CUSTOM_MAPS:
        codec = Codec(FieldMap(mapping, stamps), json_backend="stdlib")
        frame = codec.encode_event(_event(case), case.data)
        yield _vector(case, codec, frame, [_expected(codec, _event(case), case.data)])


def build_vectors() -> dict[str, object]:
    """Return the content of vectors.json."""
    vectors = [
        *_event_vectors(),
        *_gzip_vectors(),
        *_legacy_vectors(),
        *_custom_vectors(),
        *_hand_written_vectors(),
    ]
    names = [str(vector["name"]) for vector in vectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"duplicate vector names: {duplicates}"
    return {
        "protocol_version": PROTOCOL_VERSION,
        "subprotocol": SUBPROTOCOL,
        "field_map": DEFAULT.field_map.mapping,
        "timestamp_fields": sorted(DEFAULT.field_map.timestamp_fields),
        "map_hash": DEFAULT.field_map.hash,
        "vectors": vectors,
    }


def _timestamp_strings() -> Iterator[str]:
    yield from TIMESTAMP_FORMS
    rng = random.Random(20251025)
    zones = [datetime.timezone(datetime.timedelta(minutes=m)) for m in (0, 60, -300, 330, 1439)]
    for _ in range(60):
        moment = datetime.datetime(1, 1, 2) + datetime.timedelta(
            microseconds=rng.randrange(0, 315_537_000_000_000_000) // 1000 * 1000
        )
        if rng.random() < 0.3:
            moment = moment.replace(microsecond=0)
        naive = moment.isoformat(timespec="milliseconds" if rng.random() < 0.5 else "auto")
        yield naive
        aware = moment.replace(tzinfo=rng.choice(zones)).isoformat()
        yield aware
        yield aware.replace("+00:00", "Z")


def build_timestamps() -> list[dict[str, object]]:
    """Return the content of timestamps.json: every form with its encoding and instant."""
    rows: list[dict[str, object]] = []
    for iso in _timestamp_strings():
        encoded = encode_timestamp(iso)
        assert encoded is not None, iso
        args = [encoded] if isinstance(encoded, int) else encoded
        assert format_timestamp(*args) == iso, iso
        parsed = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        ms = (parsed - _EPOCH) // datetime.timedelta(milliseconds=1)
        assert ms == args[0], iso
        rows.append({"iso": iso, "encoded": encoded, "ms": ms})
    return rows


def render_field_map_doc() -> str:
    """Return docs/field-map.md, the published default field map."""
    field_map = DEFAULT.field_map
    lines = [
        "# Default field map",
        "",
        "<!-- Generated by `python tests/vectors/generate.py` from",
        "     reznet_ws.codec.DEFAULT_FIELD_MAP; do not edit by hand. -->",
        "",
        "The built-in map of full key names to the short names written in v2 frames, and the",
        "fields whose values are encoded as timestamps (see [the protocol](protocol.md),",
        "section 4). Keys not listed are sent unchanged, or with a `~` in front when they equal a",
        "short name or start with `~`, so every key survives the round trip.",
        "",
        f"Protocol version {PROTOCOL_VERSION}, map hash `{field_map.hash}`.",
        "",
        "| full name | short name | timestamp field |",
        "|---|---|---|",
    ]
    for full, short in sorted(field_map.mapping.items()):
        stamp = "yes" if full in field_map.timestamp_fields else ""
        lines.append(f"| `{full}` | `{short}` | {stamp} |".rstrip())
    unmapped = sorted(field_map.timestamp_fields - field_map.mapping.keys())
    if unmapped:
        lines += ["", "Timestamp fields without a short name: " + ", ".join(unmapped) + "."]
    lines += [
        "",
        "## Extending the map",
        "",
        "An application adds its own fields with `FieldMap.extended()`; its entries win over the",
        "default entry for the same full name, and a short name used twice is refused. Clients",
        "receive the map in `connection_established`, so they never need this table.",
        "",
        "## Your own map",
        "",
        "The table above is made for chat and agent events. Data with other keys, such as an",
        "exchange feed whose keys are already short (`s`, `u`, `c`, `seq`, `p`, `q`, `b`, `a`,",
        "`t`), is better served by its own map: a key that equals a short name of the map (or",
        "starts with `~`) is written with a `~` in front, one byte more, and every other key",
        "costs nothing. A project whose consumers all carry such data replaces the map in",
        "its settings:",
        "",
        "```python",
        'REZNET_WS = {"FIELD_MAP": {"symbol": "sy", "volume": "v"}, "TIMESTAMP_FIELDS": []}',
        "```",
        "",
        "One consumer declares its own map by overriding `get_field_map()`, called once per",
        "connection, to return a `FieldMap` built once at import time, for example",
        '`MARKET_MAP = FieldMap({"symbol": "sy", "volume": "v"}, timestamp_fields=[])` and',
        "`def get_field_map(self): return MARKET_MAP` (consumers with equal maps share one",
        "codec).",
        "",
        "The client receives the map (and its `map_hash`) in `connection_established`,",
        "so nothing changes on the client side. `FieldMap.from_settings(config)` builds a map",
        "from a dict with the keys of the [settings](settings.md) (`FIELD_MAP`,",
        "`EXTRA_FIELDS`, `TIMESTAMP_FIELDS`, `EXTRA_TIMESTAMP_FIELDS`), which is how the",
        "default `get_field_map()` reads `REZNET_WS`.",
        "",
        "`FieldMap(mapping, timestamp_fields)` raises `ValueError` for the first problem it",
        "finds; `reznet_ws.codec.validate_field_map(mapping, timestamp_fields)` returns all of",
        "them as a list of sentences (empty when the map is valid): short names must be",
        "non-empty, unique and must not start with `~`, and every name must be a `str`.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Content frames: send_json(content) on v2 (protocol section 3.1). ``expected`` is the parse of
# v1's text, json.dumps(content).

CONTENT_CASES: list[tuple[str, str, object]] = [
    ("content-channels-chat", "the Channels tutorial's message", {"message": "hello"}),
    (
        "content-handler-message",
        "a group_send handler's message with a type and a model row",
        {"type": "chat.message", "message": _MESSAGE},
    ),
    (
        "content-event-envelope",
        "an {event, data} envelope: delivered to the event's handlers, as in v1",
        {"event": "message_new", "data": _MESSAGE},
    ),
    ("content-plan", "a nested agent plan", {"kind": "plan", "plan": _PLAN}),
    ("content-array", "a top-level array of messages", [_MESSAGE, _MESSAGE]),
    ("content-string", "a top-level string", "just text"),
    ("content-number", "a top-level number", 42),
    ("content-float", "a top-level float", 0.1),
    ("content-null", "null", None),
    ("content-true", "a boolean", True),
    ("content-empty-object", "an empty object", {}),
    (
        "content-short-name-keys",
        "keys equal to short names and keys starting with ~ are escaped",
        {"c": 1, "content": 2, "~": 3, "~c": 4, "mid": "x"},
    ),
    (
        "content-timestamps",
        "timestamp fields in every form, at every depth",
        {
            "created_at": "2025-10-25T12:00:00Z",
            "items": [{"updated_at": "2025-10-25T12:00:00.123000Z"}, {"timestamp": 5}],
            "timestamp": "2025-10-25T14:00:00+02:00",
            "note": "2025-10-25T12:00:00Z",
        },
    ),
    (
        "content-python-values",
        "tuples and non-string keys, as json.dumps writes them",
        {1: "int key", 2.5: "float key", False: "bool key", None: "null key", "t": (1, "a")},
    ),
    (
        "content-unicode",
        "non-ASCII text, escaped in v1 and written as itself here",
        {"content": "héllo wörld ✓ 🙂", "author_name": "Zoë"},
    ),
    ("content-lone-surrogate", "a lone surrogate forces escapes", {"content": "a\ud800b"}),
    ("content-big-integer", "integers beyond 2**53", {"n": 2**64 + 1, "m": -(2**70)}),
]


def _content_vector(
    name: str, description: str, codec: Codec, content: object, frame: str | bytes
) -> dict[str, object]:
    vector: dict[str, object] = {"name": name, "description": description}
    if isinstance(frame, str):
        vector["frame"] = {"type": "text", "data": frame}
    else:
        vector["frame"] = {"type": "binary", "base64": base64.b64encode(frame).decode("ascii")}
    if codec.field_map is not DEFAULT.field_map:
        vector["field_map"] = codec.field_map.mapping
        vector["timestamp_fields"] = sorted(codec.field_map.timestamp_fields)
    vector["expected"] = json.loads(encode_v1_content(content))
    got = decode_content_frame(codec, frame)
    if _canonical(got) != _canonical(vector["expected"]):
        raise AssertionError(f"content vector {name}: decoded {got!r}")
    return vector


def _content_vectors() -> Iterator[dict[str, object]]:
    for name, description, content in CONTENT_CASES:
        frame = content_frame(encode_content(DEFAULT, content)[0])
        yield _content_vector(name, description, DEFAULT, content, frame)
    big = {"type": "history", "messages": _BIG}
    packed, binary = DEFAULT.finalize(content_frame(encode_content(DEFAULT, big)[0]))
    assert binary and isinstance(packed, bytes)
    yield _content_vector(
        "content-gzip", "a large content frame, gzip-compressed", DEFAULT, big, packed
    )
    custom = Codec(FieldMap({"message": "m", "type": "t"}, ["sent"]), json_backend="stdlib")
    content = {"type": "chat.message", "message": "hi", "m": 1, "sent": "2025-10-25T12:00:00Z"}
    frame = content_frame(encode_content(custom, content)[0])
    yield _content_vector("content-custom-map", "a custom field map", custom, content, frame)


#: Frames a receiver must refuse, with the error code.
CONTENT_INVALID: list[tuple[str, str, str, str]] = [
    (
        "content-with-event",
        'a content frame with "e" as well',
        '{"_v":2,"c":1,"e":"x","d":1}',
        "invalid_frame",
    ),
    (
        "content-with-batch",
        'a content frame with "b" as well',
        '{"_v":2,"c":1,"b":[]}',
        "invalid_frame",
    ),
    ("content-version-3", "another protocol version", '{"_v":3,"c":1}', "unknown_version"),
    (
        "content-bad-timestamp",
        "an encoded timestamp past year 9999",
        '{"_v":2,"c":{"ts":[1e17,0,null]}}',
        "invalid_frame",
    ),
]


def _invalid_content_vectors() -> Iterator[dict[str, object]]:
    for name, description, frame, code in CONTENT_INVALID:
        try:
            decode_content_frame(DEFAULT, frame)
        except ProtocolError as exc:
            assert exc.code == code, (name, exc.code)
        else:
            raise AssertionError(f"content vector {name} decoded")
        yield {"name": name, "description": description, "frame": frame, "error": code}


def build_content_vectors() -> dict[str, object]:
    """Return the content of content.json: content frames and what they decode to."""
    vectors = list(_content_vectors())
    names = [str(vector["name"]) for vector in vectors] + [c[0] for c in CONTENT_INVALID]
    assert len(set(names)) == len(names), "duplicate content vector names"
    return {
        "protocol_version": PROTOCOL_VERSION,
        "field_map": DEFAULT.field_map.mapping,
        "timestamp_fields": sorted(DEFAULT.field_map.timestamp_fields),
        "vectors": vectors,
        "invalid": list(_invalid_content_vectors()),
    }


def _delta_versions() -> list[tuple[str, list[object]]]:
    # Series of versions of one keyed object each: every kind of change protocol 3.2 names.
    tasks = [{"id": i, "status": "todo", "title": f"Task {i}"} for i in range(6)]
    done = [dict(task, status="done") if task["id"] == 2 else task for task in tasks]
    return [
        ("plan_task_by_task", [{"plan": tasks}, {"plan": done}, {"plan": [*done, tasks[0]]}]),
        ("nulls_and_removals", [{"a": 1, "b": None, "c": [1]}, {"a": None, "c": [1]}, {"c": []}]),
        ("type_changes", [{"v": 1}, {"v": 1.0}, {"v": True}, {"v": "1"}, {"v": [1]}, [1], None]),
        ("nested_arrays", [[[1, 2], [3]], [[1, 2], [3, 4], []], [[0], [1, 2], [3, 4], []]]),
        (
            "timestamps",
            [
                {"created_at": "2025-10-25T12:00:00Z", "status": "new"},
                {"created_at": "2025-10-25T12:00:00.123Z", "status": "new"},
                {"created_at": "2025-10-25T14:00:00+02:00", "updated_at": 5},
                {"created_at": "not a time", "updated_at": [5]},
            ],
        ),
        ("escaped_keys", [{"c": 1, "content": 2}, {"~c": 3, "content": 2}, {"~": {"s": 1}}]),
        ("reordered_members", [{"a": 1, "b": 2}, {"b": 2, "a": 1}]),
    ]


def build_delta_vectors() -> dict[str, object]:
    """Return the content of delta.json: keyed and delta frames and what they decode to."""
    from reznet_ws.codec.delta import delta_frame, diff, dump_ops, keyed_frame
    from reznet_ws.codec.keyed_receiver import KeyedReceiver

    streams = []
    for name, versions in _delta_versions():
        frames: list[dict[str, object]] = []
        previous: object = None
        for version, value in enumerate(versions, 1):
            text = DEFAULT.encode_data(value)
            encoded = json.loads(text)
            if version == 1:
                frame = keyed_frame(DEFAULT, "live", name, version, "0a1b2c3d", text)
            else:
                ops = dump_ops(diff(previous, encoded))
                frame = delta_frame(DEFAULT, "live", name, version, ops)
            previous = encoded
            expected = json.loads(DEFAULT.encode_v1("live", value))["data"]
            frames.append({"frame": frame, "expected": expected, "delta": version > 1})
        streams.append({"name": name, "frames": frames})
    gap = [
        keyed_frame(DEFAULT, "live", "g", 1, "0a1b2c3d", DEFAULT.encode_data({"x": 1})),
        delta_frame(DEFAULT, "live", "g", 3, '[[["x"],3]]'),
        delta_frame(DEFAULT, "live", "g", 4, '[[["x"],4]]'),
        keyed_frame(DEFAULT, "live", "g", 5, "0a1b2c3d", DEFAULT.encode_data({"x": 5})),
    ]
    streams.append(
        {
            "name": "gap_waits_for_full",
            "frames": [
                {"frame": gap[0], "expected": {"x": 1}, "delta": False},
                {"frame": gap[1], "expected": None, "gap": True},
                {"frame": gap[2], "expected": None, "gap": True},
                {"frame": gap[3], "expected": {"x": 5}, "delta": False},
            ],
        }
    )
    for stream in streams:  # every vector checked by the Python receiver as it is written
        receiver = KeyedReceiver(DEFAULT)
        for item in stream["frames"]:  # type: ignore[attr-defined]
            got = receiver.receive(json.loads(item["frame"]))
            assert (None if got is None else got[1]) == item["expected"], stream["name"]
    invalid_ops = [[[["b"]]], [[[]]], [[["a", 0], 1]], [[["a"], 0, 9, []]], [[5, 1]], "x"]
    return {
        "protocol_version": PROTOCOL_VERSION,
        "field_map": DEFAULT.field_map.mapping,
        "timestamp_fields": sorted(DEFAULT.field_map.timestamp_fields),
        "streams": streams,
        "invalid_ops": [{"value": {"a": 1}, "ops": ops} for ops in invalid_ops],
    }


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=True) + "\n"


def _msgpack_vectors() -> dict[str, object]:
    # The reznet.v2.msgpack vectors (protocol section 7), built in msgpack_vectors.py from the
    # same cases; loaded by path, as this file may itself be loaded by path.
    import importlib.util

    path = Path(__file__).resolve().with_name("msgpack_vectors.py")
    spec = importlib.util.spec_from_file_location("reznet_msgpack_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = {"EVENTS": EVENTS, "RAW": RAW, "BATCHES": BATCHES, "CUSTOM_MAPS": CUSTOM_MAPS}
    built: dict[str, object] = module.build(DEFAULT, {**cases, "CONTENT_CASES": CONTENT_CASES})
    return built


def write_all(out_dir: Path, doc_path: Path) -> list[Path]:
    """Write vectors.json, timestamps.json and content.json into ``out_dir``, the doc to
    ``doc_path``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    outputs = {
        out_dir / "vectors.json": _dump(build_vectors()),
        out_dir / "timestamps.json": _dump(build_timestamps()),
        out_dir / "content.json": _dump(build_content_vectors()),
        out_dir / "delta.json": _dump(build_delta_vectors()),
        out_dir / "msgpack.json": _dump(_msgpack_vectors()),
        doc_path: render_field_map_doc(),
    }
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8", newline="\n")
    return list(outputs)


def main(argv: list[str] | None = None) -> int:
    """Write the files; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "field-map.md")
    args = parser.parse_args(argv)
    for path in write_all(args.out, args.doc):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    assert DEFAULT.field_map.mapping == DEFAULT_FIELD_MAP
    assert DEFAULT.field_map.timestamp_fields == DEFAULT_TIMESTAMP_FIELDS
    raise SystemExit(main())
