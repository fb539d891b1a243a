"""The pure fallback for non-JSON values writes exactly what DjangoJSONEncoder writes."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.codec.jsonvalues import django_default, json_key

# Django is installed with the package; its encoder needs no settings. The codec never imports it.
django_json = pytest.importorskip("django.core.serializers.json")
DJANGO = django_json.DjangoJSONEncoder()

OFFSETS = st.one_of(
    st.none(),
    st.just(datetime.UTC),
    st.integers(-1439, 1439).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m))),
    st.timedeltas(
        min_value=datetime.timedelta(hours=-23), max_value=datetime.timedelta(hours=23)
    ).map(datetime.timezone),
)
VALUES = st.one_of(
    st.datetimes(timezones=OFFSETS),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(),
    st.uuids(),
)


@settings(max_examples=1500, deadline=None, database=None)
@given(VALUES)
def test_same_as_django_json_encoder(value: object) -> None:
    assert django_default(value) == DJANGO.default(value)


def test_aware_times_are_refused_like_django() -> None:
    aware = datetime.time(12, tzinfo=datetime.UTC)
    with pytest.raises(ValueError):
        DJANGO.default(aware)
    with pytest.raises(ValueError):
        django_default(aware)


def test_examples() -> None:
    moment = datetime.datetime(2025, 10, 25, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    assert django_default(moment) == "2025-10-25T12:00:00.123Z"
    assert django_default(moment.replace(microsecond=0)) == "2025-10-25T12:00:00Z"
    assert django_default(datetime.timedelta(days=-1, seconds=5)) == "-P0DT23H59M55S"
    assert django_default(decimal.Decimal("1.50")) == "1.50"
    assert django_default(uuid.UUID(int=0)) == "00000000-0000-0000-0000-000000000000"
    with pytest.raises(TypeError, match="not JSON serializable"):
        django_default(object())


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("a", "a"),
        (1, "1"),
        (-0.0, "-0.0"),
        (1e16, "1e+16"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
    ],
)
def test_json_key(key: object, written: str) -> None:
    assert json_key(key) == written


def test_json_key_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        json_key((1, 2))
