"""Bytes per encoding on the admin metrics page and in the stats API."""

from __future__ import annotations

from typing import Any

import pytest

from reznet_ws.stats import StatsRecorder

from .conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300)]


def test_admin_and_api_show_bytes_sent_as_msgpack(
    users: dict[str, Any], recorder: StatsRecorder
) -> None:
    recorder.record_message("message_new", 5000, 2000, False, count=4)
    recorder.record_encoding("msgpack", 3, 3000, 1200)
    html = client_for(users["staff"]).get("/admin/reznet_ws/metrics/panel/").content.decode()
    assert "sent as MessagePack (3 messages" in html
    stats = client_for(users["staff"]).get("/api/websocket/stats").json()
    assert stats["by_encoding"] == {
        "json": {"messages": 1, "bytes_original": 17000, "bytes_sent": 6800},
        "msgpack": {"messages": 3, "bytes_original": 3000, "bytes_sent": 1200},
    }
