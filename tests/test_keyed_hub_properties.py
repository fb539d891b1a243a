"""Keyed broadcasts through the real hub fan-out, for any sequence of updates, joins and drops.

Members are connections whose socket is a recorder: the hub writes prepared frames to it, as it
does on reznet-daphne. Whatever happens (members joining late, members missing broadcasts,
keys alternating), every keyed frame a member gets applies to what it holds, and rebuilds
exactly what a v1 client receives.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import weakref
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec.keyed_receiver import KeyedReceiver
from reznet_ws.delivery.connection import Connection
from reznet_ws.delivery.hub import Hub
from reznet_ws.delivery.keyed import KeyedStreams
from reznet_ws.encoding import EncodedEvent, broadcast_cache, codec_for, default_field_map

from .test_codec_properties import JSON, examples
from .test_delta_codec import mutate
from .test_prepared_frames import parse_frame

_ids = itertools.count()


class RecordingOutbox:
    """A socket that takes every prepared frame, or is full (the member misses a broadcast)."""

    closed = False
    direct = True

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.full = False

    def backlog(self) -> int:
        return 10**9 if self.full else 0

    def write_frame(self, frame: bytes) -> bool:
        _, payload, rest = parse_frame(frame)
        assert rest == b""
        self.frames.append(json.loads(payload))
        return True


def recording_member(outbox: RecordingOutbox) -> Connection:
    """An accepted v2 connection (keyed streams on) whose socket is ``outbox``."""

    async def send(message: Any) -> None:
        raise AssertionError("every frame goes through the outbox")

    connection = Connection(send)
    connection.outbox = outbox  # type: ignore[assignment]
    connection.version, connection.accepted = 2, True
    connection.codec = codec_for(default_field_map())
    connection.keyed = KeyedStreams.from_settings()
    return connection


async def fanout(hub: Hub, event: str, data: Any, prefix: str, **extra: Any) -> str:
    """Broadcast ``event`` to group "g" of ``hub`` as a layer message does; return its v1 text."""
    encoded = EncodedEvent(event, data)
    message_id = f"{prefix}-{next(_ids)}"
    v1 = encoded.v1_text(codec_for(default_field_map()))
    broadcast_cache().put(message_id, encoded)
    message = {"type": "reznet.event", "group": "g", "id": message_id, "event": event, "v1": v1}
    await hub.fanout({**message, "optimize": True, "batch": False, **extra})
    return v1


def member() -> tuple[Connection, RecordingOutbox, KeyedReceiver]:
    outbox = RecordingOutbox()
    connection = recording_member(outbox)
    assert connection.codec is not None
    return connection, outbox, KeyedReceiver(connection.codec)


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Updates of two keys (mostly small changes of the last version), joins and drops."""
    last: dict[str, Any] = {}
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["send", "send", "send", "join", "drop"]))
        if kind == "send":
            key = draw(st.sampled_from(["a", "b"]))
            if key in last and draw(st.integers(0, 3)):
                value = mutate(last[key], draw)
            else:
                value = {"items": draw(st.lists(JSON, max_size=6)), "meta": draw(JSON)}
            last[key] = value
            ops.append(("send", key, value))
        elif kind == "join":
            ops.append(("join",))
        else:
            ops.append(("drop", draw(st.integers(0, 3))))
    return ops


@examples(150)
@given(operations())
def test_every_member_rebuilds_every_version_it_receives(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(ops))


async def _run(ops: list[tuple[Any, ...]]) -> None:
    hub = Hub(object())
    members = [member()]
    hub.groups["g"] = weakref.WeakSet([members[0][0]])
    for op in ops:
        if op[0] == "join":
            members.append(member())
            hub.groups["g"].add(members[-1][0])
        elif op[0] == "drop":
            members[op[1] % len(members)][1].full = True
        else:
            _, key, value = op
            v1 = await fanout(hub, "live", value, "prop", key=key)
            expected = json.loads(v1)["data"]
            for _connection, outbox, receiver in members:
                if outbox.full:  # it missed this one
                    outbox.full = False
                    continue
                frame = outbox.frames[-1]
                result = receiver.receive(frame)
                assert result is not None, frame  # never a delta it cannot apply
                assert json.dumps(result[1]) == json.dumps(expected)
                assert result[2]["key"] == key
