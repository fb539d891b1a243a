"""``manage.py wsstats``: table, ``--json``, ``--watch``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from reznet_ws.management.commands.wsstats import Command
from reznet_ws.stats import StatsRecorder

from .conftest import free_port

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def recorded(recorder: StatsRecorder) -> StatsRecorder:
    """The fresh process recorder, holding a few figures for the command to show."""
    recorder.record_message("message_new", 5432, 2871, False, count=1000)
    recorder.record_error("malformed_json")
    recorder.record_fallback("ValueError")
    recorder.connection_opened(2)
    return recorder


def _run(*args: str) -> str:
    out = StringIO()
    call_command("wsstats", *args, stdout=out)
    return out.getvalue()


def test_table() -> None:
    lines = _run().splitlines()
    assert "Messages                    1,000" in lines
    assert "Bytes as plain JSON         5,432,000" in lines
    assert "Reduction                   47.1 %" in lines
    assert "Active connections          1 (v2: 1)" in lines
    [event] = [line for line in lines if line.startswith("message_new")]
    assert event.split() == ["message_new", "1,000", "5,432,000", "2,871,000", "47.1", "%"]
    assert "malformed_json                       1" in lines
    assert "fallback:ValueError                  1" in lines


def test_json() -> None:
    stats = json.loads(_run("--json"))
    assert stats["total_messages"] == 1000
    assert stats["events"]["message_new"]["reduction_percentage"] == 47.1


def test_watch_is_bounded_and_sleeps_between_refreshes(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(Command, "sleep", staticmethod(slept.append))
    out = _run("--watch", "3", "--count", "3", "--json")
    assert out.count('"total_messages": 1000') == 3
    assert slept == [3.0, 3.0]


def test_watch_stops_quietly_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Command, "sleep", staticmethod(interrupt))
    out = _run("--watch")
    assert out.count("Counting since") == 1


@pytest.mark.parametrize("value", ["0.1", "7200", "soon"])
def test_watch_interval_is_checked(value: str) -> None:
    with pytest.raises(CommandError, match="--watch"):
        _run("--watch", value)


def test_cache_down_is_a_command_error() -> None:
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
    }
    with override_settings(CACHES={"default": dead}), pytest.raises(CommandError, match="unavail"):
        _run()
