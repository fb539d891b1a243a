"""Reserved event names: the server never sends an application event under a control name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import SUBPROTOCOL
from reznet_ws.codec.errors import RESERVED_EVENTS, ReservedEventError, check_event_name
from reznet_ws.consumers import OptimizedConsumerMixin

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent


class SendingConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    groups = ["reserved"]

    async def receive_event(self, event: str, data: Any) -> None:
        outcome = {}
        for how in ("send_event", "broadcast"):
            try:
                if how == "send_event":
                    await self.send_event(data, {"spoof": True})
                else:
                    await self.broadcast("reserved", data, {"spoof": True})
                outcome[how] = "sent"
            except ValueError as exc:
                outcome[how] = f"{type(exc).__name__}: {exc}"
        await self.send_event("outcome", outcome)
        # Behind any broadcast of this consumer in the group's queue: the end of the attempt.
        await self.broadcast("reserved", "marker", None)


async def attempt(name: str, v2: bool) -> tuple[list[str], dict[str, str]]:
    """Ask a consumer to send ``name``; return the events it sent and its outcome."""
    comm = WebsocketCommunicator(
        SendingConsumer.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    assert (await comm.connect())[0]
    if v2:
        assert json.loads(await comm.receive_from())["e"] == "connection_established"
    await comm.send_json_to({"event": "try", "data": name})
    seen: list[str] = []
    outcome: dict[str, str] = {}
    while True:
        frame = json.loads(await comm.receive_from())
        event = frame["e"] if v2 else frame["event"]
        if event == "marker":
            break
        if event == "outcome":
            outcome = frame["d"] if v2 else frame["data"]
        else:
            seen.append(event)
    await comm.disconnect()
    return seen, outcome


@pytest.mark.parametrize("v2", [True, False])
@pytest.mark.parametrize("name", sorted(RESERVED_EVENTS))
async def test_send_event_and_broadcast_refuse_reserved_names(name: str, v2: bool) -> None:
    seen, outcome = await attempt(name, v2)
    assert seen == []  # nothing went out, not even to the group
    for how in ("send_event", "broadcast"):
        assert outcome[how].startswith("ReservedEventError: "), outcome
        assert repr(name) in outcome[how] and "control event" in outcome[how]


async def test_other_names_are_sent() -> None:
    seen, outcome = await attempt("connection_established_too", v2=True)
    assert outcome == {"send_event": "sent", "broadcast": "sent"}
    assert seen == ["connection_established_too", "connection_established_too"]


def test_the_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'error' is the name of a reznet control event"):
        check_event_name("error")
    assert issubclass(ReservedEventError, ValueError)


class Sneaky(str):
    """A str whose equality lies: the encoder writes its real characters."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


def test_a_str_subclass_cannot_dodge_the_check() -> None:
    with pytest.raises(ReservedEventError) as caught:
        check_event_name(Sneaky("connection_established"))
    assert type(caught.value.event) is str


@given(st.one_of(st.text(), st.sampled_from(sorted(RESERVED_EVENTS)), st.none(), st.integers()))
def test_exactly_the_reserved_names_are_refused(name: object) -> None:
    if isinstance(name, str) and name in RESERVED_EVENTS:
        with pytest.raises(ReservedEventError):
            check_event_name(name)
    else:
        check_event_name(name)


def test_reserved_names_match_the_protocol_and_the_js_client() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text.split("### Reserved event names", 1)[1].split("\n\n")[1]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M)) == RESERVED_EVENTS
    js = (ROOT / "reznet_ws" / "static" / "reznet_ws" / "reznet-ws.js").read_text()
    [listed] = re.findall(r"export const CONTROL_EVENTS = Object\.freeze\(\[(.*?)\]\)", js)
    assert set(re.findall(r'"([a-z_]+)"', listed)) == RESERVED_EVENTS
