"""Entity references in Chromium: the agent's profile goes once, then by reference, exactly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .browser_support import V1Client, WireTap, decode_wire
from .test_browser import (  # noqa: F401 - fixtures
    browser,
    chat_server,
    context,
    demo_db,
    events,
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


def test_the_agent_profile_goes_once_then_by_reference(
    page: Page,  # noqa: F811 - the fixture
    chat_server: ServerProcess,  # noqa: F811 - the fixture
) -> None:
    with V1Client(chat_server.port) as legacy:
        tap = WireTap(page)
        page.goto(url(chat_server) + "?streams=0")
        wait_events(page, "e.event === 'connection_established'")
        for answers in (1, 2):
            page.click("#ask")
            wait_events(
                page, "e.event === 'message_new' && e.data.author_type === 'agent'", answers
            )
            wait_events(page, "e.event === 'agent_status' && e.data.status === 'idle'", answers)
        wait_panel(page)
        decoded = events(page)
        legacy_events = legacy.receive(len(decoded) - 1)

    hello, *rest = decoded
    assert hello["data"]["features"]["entity_refs"] == 256
    # What the page's handlers got is what the v1 client received, profiles included.
    assert rest == legacy_events
    answers = [e["data"] for e in rest if e["event"] == "message_new" and "agent" in e["data"]]
    assert len(answers) == 2 and answers[0]["agent"] == answers[1]["agent"]
    assert answers[0]["agent"]["agent_id"] == "agent-7f3a"
    frames = [f for f in tap.sockets[0].frames if isinstance(f, str)]
    with_refs = [json.loads(f) for f in frames if '"t":' in f and '"~":"agent:' in f]
    assert [len(f["t"]) for f in with_refs] == [1, 0]  # defined once, then referred to
    assert decode_wire(tap.sockets[0].frames, hello["data"]) == decoded
    assert page.locator("#wire .frame.refs").count() >= 1  # the log keeps the latest frames
    assert page.evaluate("reznetSocket.entities.stats.missing") == 0
