"""The walk's timestamp fast path gives exactly what ``encode_timestamp`` gives, for any string."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import timestamps
from reznet_ws.codec.timestamps import encode_timestamp, encode_utc_millis, format_timestamp
from tests.test_codec_properties import STAMP_TEXT, examples

# Characters that look like digits or separators to some parsers but are not ASCII digits.
TRICKY = "0123456789:.-TZ+ ٣²０\u00a0"


@st.composite
def utc_millis_strings(draw: st.DrawFn) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ``, often valid, sometimes with one character replaced."""
    moment = draw(
        st.datetimes(datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59))
    )
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
    text = text.rjust(24, "0")  # strftime writes year 1 as "1" on some platforms
    if draw(st.booleans()):
        index = draw(st.integers(0, len(text) - 1))
        text = text[:index] + draw(st.sampled_from(TRICKY)) + text[index + 1 :]
    return text


@examples(500)
@given(text=st.one_of(utc_millis_strings(), STAMP_TEXT, st.text(TRICKY, min_size=18, max_size=26)))
def test_fast_path_equals_encode_timestamp(text: str) -> None:
    assert encode_utc_millis(text) == encode_timestamp(text)


@examples(200)
@given(text=utc_millis_strings())
def test_fast_path_round_trips(text: str) -> None:
    encoded = encode_utc_millis(text)
    if isinstance(encoded, int):
        assert format_timestamp(encoded) == text
    elif encoded is not None:
        assert format_timestamp(*encoded) == text  # type: ignore[misc]


def test_memo_is_bounded_and_kept_correct_when_cleared() -> None:
    start = datetime.datetime(2025, 1, 1)
    for n in range(timestamps._SECONDS_MAX + 10):
        moment = start + datetime.timedelta(seconds=n)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + ".250Z"
        assert encode_utc_millis(text) == encode_timestamp(text)
    assert len(timestamps.SECONDS_MEMO) <= timestamps._SECONDS_MAX
    assert encode_utc_millis("2025-01-01T00:00:00.000Z") == [1735689600000, 1, None]
    assert encode_utc_millis("2025-02-30T00:00:00.001Z") is None
