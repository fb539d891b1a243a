"""Timestamps: ISO strings to milliseconds and back, byte for byte (protocol section 4.2)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.codec import encode_timestamp, format_timestamp

UTC = datetime.UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def decode(encoded: object) -> str:
    return format_timestamp(*encoded) if isinstance(encoded, list) else format_timestamp(encoded)


def test_the_original_example() -> None:
    assert encode_timestamp("2025-10-25T12:00:00Z") == 1761393600000
    assert format_timestamp(1761393600000) == "2025-10-25T12:00:00Z"


# Every row of the table in docs/protocol.md, section 4.2.
@pytest.mark.parametrize(
    ("iso", "encoded"),
    [
        ("2025-10-25T12:00:00Z", 1761393600000),
        ("2025-10-25T12:00:00.123Z", 1761393600123),
        ("2025-10-25T12:00:00.000Z", [1761393600000, 1, None]),
        ("2025-10-25T12:00:00.123000Z", [1761393600123, 2, None]),
        ("2025-10-25T14:00:00+02:00", [1761393600000, 0, 120]),
        ("2025-10-25T12:00:00", [1761393600000, 0, False]),
        # and the combinations the table implies
        ("2025-10-25T12:00:00+00:00", [1761393600000, 0, 0]),
        ("2025-10-25T06:30:00.5-05:30", None),
        ("2025-10-25T06:30:00.500-05:30", [1761393600500, 0, -330]),
        ("2025-10-25T12:00:00.000", [1761393600000, 1, False]),
        ("2025-10-25T12:00:00.010000", [1761393600010, 2, False]),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0001-01-01T00:00:00Z", -62135596800000),
        ("9999-12-31T23:59:59.999Z", 253402300799999),
        ("0001-01-01T00:00:00+00:01", [-62135596860000, 0, 1]),
        ("9999-12-31T23:59:59-23:59", [253402387139000, 0, -1439]),
    ],
)
def test_protocol_table(iso: str, encoded: object) -> None:
    assert encode_timestamp(iso) == encoded
    if encoded is not None:
        assert decode(encoded) == iso


def test_tz_false_and_zero_are_different() -> None:
    naive, zero = (
        encode_timestamp("2025-10-25T12:00:00"),
        encode_timestamp("2025-10-25T12:00:00+00:00"),
    )
    assert isinstance(naive, list) and naive[2] is False
    assert isinstance(zero, list) and zero[2] == 0 and zero[2] is not False


@pytest.mark.parametrize(
    "text",
    [
        "2025-10-25t12:00:00Z",
        "2025-10-25T12:00:00z",
        "2025-10-25T12:00:00-00:00",
        "2025-10-25T12:00:00+05:30:15",
        "2025-10-25T12:00:00.123456Z",
        "2025-10-25T12:00:00.000000Z",
        "2025-10-25T12:00:00.1Z",
        "2025-10-25T12:00:00.12Z",
        "2025-10-25T12:00:00.1234Z",
        "2025-10-25T12:00:00.1230000Z",
        "2025-10-25T24:00:00Z",
        "2025-10-25T12:60:00Z",
        "2016-12-31T23:59:60Z",
        "2025-02-30T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2025-13-01T12:00:00Z",
        "2025-00-01T12:00:00Z",
        "2025-10-00T12:00:00Z",
        "0000-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "-0001-01-01T00:00:00Z",
        "2025-10-25 12:00:00Z",
        "2025-10-25T12:00Z",
        "2025-10-25T12:00:00+0200",
        "2025-10-25T12:00:00+02",
        "2025-10-25T12:00:00+24:00",
        "2025-10-25T12:00:00+01:60",
        "2025-10-25T12:00:00Z ",
        " 2025-10-25T12:00:00Z",
        "2025-10-25T12:00:00ZZ",
        "2025-10-25T12:00:00.Z",
        "2025-10-25",
        "12:00:00",
        "\u0662\u0660\u0662\u0665-10-25T12:00:00Z",
        "2025-10-25T12:00:0\u0661Z",
        "2025-10-25T12:00:00.\u0661\u0662\u0663Z",
        "2025-10-25T12:00:00\ud800",
        "",
        "yesterday",
    ],
)
def test_strings_that_no_format_reproduces_stay_strings(text: str) -> None:
    assert encode_timestamp(text) is None


def test_js_to_iso_string_form() -> None:
    for ms in (0, 1, 999, 1000, 1761393600000, 1761393600123, -1, -62135596800000):
        moment = EPOCH + datetime.timedelta(milliseconds=ms)
        js = moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"  # toISOString()
        encoded = encode_timestamp(js)
        assert encoded == (ms if ms % 1000 else [ms, 1, None])
        assert decode(encoded) == js


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.5,), "integer"),
        ((True,), "integer"),
        (("1",), "integer"),
        ((0, 3), "fraction"),
        ((0, True), "fraction"),
        ((0, 1.5), "fraction"),
        ((0, -1), "fraction"),
        ((0, 0, 1440), "offset"),
        ((0, 0, -1440), "offset"),
        ((0, 0, True), "offset"),
        ((0, 0, 1.5), "offset"),
        ((0, 0, "Z"), "offset"),
        ((253402300800000,), "outside"),
        ((-62135596800001,), "outside"),
        ((253402300799999, 0, 1), "outside"),
        ((10**30,), "outside"),
    ],
)
def test_format_refuses_invalid_encodings(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_timestamp(*args)


def test_format_accepts_integral_floats_as_javascript_does() -> None:
    # JSON 1, 1.0 and 1e0 are one number to JavaScript; Python parses the last two as floats.
    assert format_timestamp(1761393600000.0, 1.0, 120.0) == format_timestamp(1761393600000, 1, 120)
    assert format_timestamp(-0.0, 0, -0.0) == "1970-01-01T00:00:00+00:00"


OFFSETS = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-1439, 1439).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m))),
)
MOMENTS = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=OFFSETS,  # type: ignore[arg-type]
).map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000))


@settings(max_examples=1500, deadline=None, database=None)
@given(MOMENTS, st.sampled_from(["auto", "seconds", "milliseconds"]))
def test_every_isoformat_output_round_trips(moment: datetime.datetime, spec: str) -> None:
    iso = moment.isoformat(timespec=spec)
    if spec == "auto" and moment.microsecond == 0 and moment.tzinfo is UTC:
        iso = iso.replace("+00:00", "Z")
    encoded = encode_timestamp(iso)
    assert encoded is not None
    assert decode(encoded) == iso
    parsed = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    ms = (aware - EPOCH) // datetime.timedelta(milliseconds=1)
    assert (encoded if isinstance(encoded, int) else encoded[0]) == ms


@settings(max_examples=1500, deadline=None, database=None)
@given(
    st.integers(-62135596800000, 253402300799999),
    st.sampled_from([0, 1, 2]),
    st.one_of(st.none(), st.just(False), st.integers(-1439, 1439)),
)
def test_formatted_encodings_encode_back(ms: int, frac: int, tz: int | bool | None) -> None:
    try:
        iso = format_timestamp(ms, frac, tz)
    except ValueError:  # the local time fell outside years 0001-9999
        return
    encoded = encode_timestamp(iso)
    assert encoded is not None
    assert decode(encoded) == iso
    assert (encoded if isinstance(encoded, int) else encoded[0]) == ms


ISO_ALPHABET = st.sampled_from([*"0123456789-:T.Z+ tz", "\u0661"])


@settings(max_examples=1500, deadline=None, database=None)
@given(
    st.one_of(
        st.text(ISO_ALPHABET, min_size=18, max_size=33),
        st.builds(
            lambda m, i, c: m.isoformat()[:i] + c + m.isoformat()[i + 1 :],
            MOMENTS,
            st.integers(0, 32),
            ISO_ALPHABET,
        ),
    )
)
def test_any_string_is_converted_only_when_it_round_trips(text: str) -> None:
    encoded = encode_timestamp(text)
    if encoded is not None:
        assert decode(encoded) == text
