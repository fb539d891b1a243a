"""Keyed events in Chromium: the demo's workflow plan arrives as deltas and is rebuilt exactly."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest

from .browser_support import V1Client, decode_wire
from .test_browser import (  # noqa: F401 - fixtures
    browser,
    chat_server,
    context,
    demo_db,
    events,
    figure,
    page,
    problems,
    servers,
    url,
    wait_events,
    wait_panel,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import ServerProcess


def test_the_plan_arrives_as_deltas_and_is_rebuilt_exactly(
    page: Page,  # noqa: F811 - the fixture
    chat_server: ServerProcess,  # noqa: F811 - the fixture
) -> None:
    from .browser_support import WireTap

    with V1Client(chat_server.port) as legacy:
        tap = WireTap(page)
        page.goto(url(chat_server))
        wait_events(page, "e.event === 'connection_established'")
        page.click("#plan")
        wait_events(page, "e.event === 'workflow_plan'", 13)  # the plan, then 12 updates
        wait_events(page, "e.event === 'agent_status' && e.data.status === 'idle'")
        wait_panel(page)
        decoded = events(page)
        legacy_events = legacy.receive(len(decoded) - 1)

    hello, *rest = decoded
    assert hello["data"]["features"]["keyed_deltas"] is True
    # What the page's handlers got is what the v1 client received, event for event.
    assert rest == legacy_events
    plans = [e["data"] for e in rest if e["event"] == "workflow_plan"]
    assert [p["completed_tasks"] for p in plans] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    # On the wire: one full keyed frame of the plan, then deltas, each a fraction of it.
    frames = [
        f if isinstance(f, str) else gzip.decompress(f).decode()
        for f in tap.sockets[0].frames
        if isinstance(f, str) or f[:2] == b"\x1f\x8b"
    ]
    sizes = [len(f) for f in tap.sockets[0].frames]
    keyed = [json.loads(f) for f in frames if '"k":"plan:' in f]
    full = [f for f in frames if '"k":"plan:' in f and '"d":' in f]
    deltas = [f for f in frames if '"k":"plan:' in f and '"x":' in f]
    assert len(keyed) == 13 and len(full) == 1 and len(deltas) == 12
    assert max(len(f) for f in deltas) * 5 < max(sizes)  # the full plan, even gzipped
    # The Python receiver rebuilds the same plans from the same frames.
    rebuilt = [
        e["data"] for e in decode_wire(frames, hello["data"]) if e["event"] == "workflow_plan"
    ]
    assert rebuilt == plans
    key = keyed[0]["k"]
    state: Any = json.loads(page.evaluate("k => JSON.stringify(reznetSocket.state(k))", key))
    assert state == plans[-1]
    # The demo shows the deltas: the plan redrawn in place, and the savings in the panel.
    assert page.locator("li.plan").count() == 1
    assert page.locator("li.plan .tasks li.done").count() == 6
    assert "updates as deltas" in (page.locator("li.plan .wire-info").text_content() or "")
    page.wait_for_function("() => Number(document.querySelector('#s-deltas').dataset.value) >= 12")
    assert figure(page, "deltas") >= 12
    assert page.locator("#wire .frame.delta").count() >= 12
