"""Property tests: decoding an encoded value gives exactly what parsing the v1 frame gives."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import uuid
from collections import OrderedDict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reznet_ws.codec import DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS, Codec, FieldMap
from reznet_ws.codec.compression import gzip_compress

CODEC = Codec(max_depth=10_000)


def examples(count: int) -> settings:
    """Settings for ``count`` examples: no deadline, no example database in the work tree."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# -- strategies -------------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "a\ud83d", "\ude00b"])
CHARS = st.characters(exclude_categories=())
TEXT = st.one_of(
    st.text(CHARS, max_size=8),
    st.text(st.sampled_from('"\\/~\x00\n\u2028\u00e9\u4f60\U0001f600'), max_size=4),
    SURROGATES,
)
SPECIAL_KEYS = [
    "",
    "~",
    "~~",
    "~~a",
    "~c",
    "~ts",
    "~content",
    "~created_at",
    "_v",
    "e",
    "d",
    "b",
    "r",
    "__proto__",
    "constructor",
    "toString",
    "\u00e9",
    "\U0001f600",
    "\ud800",
]
KEY_POOL = sorted(set(DEFAULT_FIELD_MAP) | set(DEFAULT_FIELD_MAP.values()) | set(SPECIAL_KEYS))
STAMP_FIELDS = sorted(DEFAULT_TIMESTAMP_FIELDS)


def _offsets() -> st.SearchStrategy[datetime.tzinfo | None]:
    minutes = st.integers(min_value=-1439, max_value=1439)
    fixed = minutes.map(lambda m: datetime.timezone(datetime.timedelta(minutes=m)))
    return st.one_of(st.none(), st.just(datetime.UTC), fixed)


DATETIMES = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=_offsets(),  # type: ignore[arg-type]
)


def _iso_forms(moment: datetime.datetime) -> list[str]:
    forms = [moment.isoformat(), moment.isoformat(timespec="milliseconds")]
    forms.append(moment.isoformat(timespec="seconds"))
    forms.append(moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat())
    if moment.tzinfo is not None:
        utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
        if 1 <= utc.year <= 9999:
            forms.append(utc.isoformat(timespec="milliseconds") + "Z")  # toISOString()
            forms.append(utc.isoformat() + "Z")
    return forms


ISO = st.builds(
    lambda m, i: _iso_forms(m)[i % 6 if m.tzinfo else i % 4], DATETIMES, st.integers(0, 5)
)


@st.composite
def near_miss(draw: st.DrawFn) -> str:
    """An ISO string with one character changed, inserted or removed."""
    text = draw(ISO)
    index = draw(st.integers(0, len(text)))
    change = draw(st.sampled_from(["replace", "insert", "delete", "case"]))
    char = draw(st.sampled_from([*"0123456789:-+.TZtz ", "\u0661"]))
    if change == "replace" and index < len(text):
        return text[:index] + char + text[index + 1 :]
    if change == "insert":
        return text[:index] + char + text[index:]
    if change == "case":
        return text.swapcase()
    return text[:index] + text[index + 1 :]


BIG_INTS = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80))
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
STAMP_TEXT = st.one_of(ISO, near_miss())
SCALARS = st.one_of(st.none(), st.booleans(), BIG_INTS, FLOATS, TEXT, STAMP_TEXT)
KEYS = st.one_of(st.sampled_from(KEY_POOL), TEXT, st.text(CHARS, max_size=3).map("~".__add__))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    stamp_values = st.one_of(STAMP_TEXT, children, st.lists(children, max_size=3))
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=5),
        st.dictionaries(st.sampled_from(STAMP_FIELDS), stamp_values, max_size=3),
    )


JSON = st.recursive(SCALARS, _containers, max_leaves=25)


@st.composite
def deep(draw: st.DrawFn) -> object:
    """A value wrapped in up to 60 arrays, objects and timestamp fields (cheap to draw)."""
    value = draw(JSON)
    depth, seed = draw(st.integers(0, 60)), draw(st.integers(0, 2**64))
    for level in range(depth):
        choice = (seed >> (level % 60)) % 3
        if choice == 0:
            value = [value]
        elif choice == 1:
            value = {KEY_POOL[(seed + level) % len(KEY_POOL)]: value}
        else:
            value = {"created_at": [value]}
    return value


VALUES = st.one_of(JSON, JSON, JSON, deep())


# -- helpers ----------------------------------------------------------------------------------


def canonical(value: object) -> str:
    """Compare JSON values strictly: 1 and 1.0, 0.0 and -0.0, True and 1 all differ."""
    return json.dumps(value, sort_keys=True)


def v1(codec: Codec, event: str, data: object) -> object:
    return json.loads(codec.encode_v1(event, data))["data"]


def check_client_side(codec: Codec, data: object) -> None:
    text = codec.encode_data(data)
    text.encode("utf-8")  # never raises: lone surrogates are escaped
    [(event, decoded)] = codec.decode_frame(codec.event_frame("ev", text))
    assert event == "ev"
    assert canonical(decoded) == canonical(v1(codec, "ev", data))


def check_server_side(codec: Codec, data: object) -> None:
    frame = codec.event_frame("ev", codec.encode_data(data))
    expected = [{"event": "ev", "data": v1(codec, "ev", data)}]
    assert canonical(codec.parse_incoming(frame, v2=True)) == canonical(expected)
    packed = gzip_compress(frame.encode("utf-8"))
    assert canonical(codec.parse_incoming(bytes_data=packed, v2=True)) == canonical(expected)


# -- the default map --------------------------------------------------------------------------


@examples(2000)
@given(VALUES)
def test_round_trip_gives_v1_data(data: object) -> None:
    check_client_side(CODEC, data)
    check_server_side(CODEC, data)


@examples(300)
@given(st.lists(st.tuples(TEXT, JSON), max_size=6))
def test_batch_round_trip(items: list[tuple[str, object]]) -> None:
    frame = CODEC.batch_frame([(event, CODEC.encode_data(data)) for event, data in items])
    expected = [{"event": event, "data": v1(CODEC, event, data)} for event, data in items]
    decoded = [{"event": e, "data": d} for e, d in CODEC.decode_frame(frame)]
    assert canonical(decoded) == canonical(expected)
    assert canonical(CODEC.parse_incoming(frame, v2=True)) == canonical(expected)


@examples(300)
@given(TEXT, JSON)
def test_raw_frame_round_trip(event: str, data: object) -> None:
    [(got_event, got)] = CODEC.decode_frame(CODEC.raw_frame(event, data))
    assert got_event == event
    assert canonical(got) == canonical(v1(CODEC, event, data))


@examples(200)
@given(JSON)
def test_gzip_frames_round_trip(data: object) -> None:
    codec = Codec(gzip_threshold=0, gzip_min_saving=-10.0)  # compress everything
    frame, binary = codec.finalize(codec.encode_event("ev", data))
    assert binary
    [(_, decoded)] = codec.decode_frame(frame)
    assert canonical(decoded) == canonical(v1(codec, "ev", data))


# -- custom maps ------------------------------------------------------------------------------

NAMES = st.one_of(st.sampled_from(KEY_POOL), st.text(CHARS, min_size=0, max_size=4))
SHORT = NAMES.filter(lambda name: name != "" and not name.startswith("~"))


@st.composite
def custom_map_and_data(draw: st.DrawFn) -> tuple[FieldMap, object]:
    fulls = draw(st.lists(NAMES, unique=True, max_size=8))
    shorts = draw(st.lists(SHORT, unique=True, min_size=len(fulls), max_size=len(fulls)))
    mapping = dict(zip(fulls, shorts, strict=True))
    names = sorted(set(fulls) | set(shorts) | {"~" + name for name in shorts}) or ["x"]
    stamps = draw(st.lists(st.sampled_from(names), max_size=4))
    keys = st.one_of(st.sampled_from(names), KEYS)
    values = st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, st.one_of(children, STAMP_TEXT), max_size=5),
        ),
        max_leaves=20,
    )
    return FieldMap(mapping, stamps), draw(values)


@examples(500)
@given(custom_map_and_data())
def test_custom_maps_round_trip(case: tuple[FieldMap, object]) -> None:
    field_map, data = case
    codec = Codec(field_map, max_depth=10_000)
    check_client_side(codec, data)
    check_server_side(codec, data)


# -- Python values that v1 converts -----------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


class Mood(str, enum.Enum):
    HAPPY = "2025-10-25T12:00:00Z"


class Real(float):
    pass


PY_SCALARS = st.one_of(
    DATETIMES,
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.sampled_from([Color.RED, Mood.HAPPY, Real(1.5), Real(-0.0)]),
    SCALARS,
)
PY_KEYS = st.one_of(KEYS, st.integers(), FLOATS, st.booleans(), st.none(), st.just(float("nan")))
PY_VALUES = st.recursive(
    PY_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(PY_KEYS, children, max_size=5),
        st.dictionaries(st.sampled_from(STAMP_FIELDS), children, max_size=3).map(OrderedDict),
    ),
    max_leaves=20,
)


@examples(800)
@given(PY_VALUES)
def test_python_values_round_trip(data: object) -> None:
    check_client_side(CODEC, data)


@examples(500)
@given(st.dictionaries(st.sampled_from(STAMP_FIELDS), DATETIMES, min_size=1))
def test_datetimes_in_timestamp_fields_become_numbers(data: dict[str, datetime.datetime]) -> None:
    check_client_side(CODEC, data)
    encoded = json.loads(CODEC.encode_data(data))
    assert all(not isinstance(value, str) for value in encoded.values())


def test_decimal_and_uuid_are_strings() -> None:
    data = {"price": decimal.Decimal("1.10"), "uid": uuid.UUID(int=1)}
    check_client_side(CODEC, data)
    assert json.loads(CODEC.encode_data(data)) == {
        "price": "1.10",
        "~uid": "00000000-0000-0000-0000-000000000001",
    }
