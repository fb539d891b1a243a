"""Batched broadcasts: one hub timer for every member, each batch frame built once, order kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from reznet_ws.codec import SUBPROTOCOL, Codec
from reznet_ws.consumers import OptimizedConsumerMixin
from reznet_ws.delivery.hub import get_hub
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import get_recorder

from .conftest import ServerProcess, free_port
from .test_prepared_frames import RawClient, parse_frame

pytestmark = pytest.mark.timeout(300)

#: Seconds any one wait may take: a bound on a hang only (a busy machine may be slow).
DEADLINE = 30.0


class BatchRoom(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.join_group("batchroom")
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "burst":  # batched broadcasts, then this member's own unbatched reply
            for n in range(data["count"]):
                await self.broadcast("batchroom", "tick", {"n": n}, batch=True)
            await self.send_event("burst_done", {"count": data["count"]})


async def _open(v2: bool = True) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        BatchRoom.as_asgi(), "/ws/", subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect(timeout=DEADLINE)
    assert connected
    if v2:
        assert json.loads(await comm.receive_from(DEADLINE))["e"] == "connection_established"
    return comm


async def _frames_until(comm: WebsocketCommunicator, ticks: int) -> list[str | bytes]:
    """Return the frames of ``comm`` until it holds ``ticks`` tick events."""
    codec, frames, seen = Codec(default_field_map()), [], 0
    while seen < ticks:
        message = await comm.receive_output(timeout=DEADLINE)
        raw = message.get("text") if message.get("text") is not None else message["bytes"]
        frames.append(raw)
        seen += sum(1 for event, _ in codec.decode_frame(raw) if event == "tick")
    return frames


def _events(frames: list[str | bytes]) -> list[tuple[str, Any]]:
    codec = Codec(default_field_map())
    return [event for frame in frames for event in codec.decode_frame(frame)]


async def test_one_timer_and_one_frame_for_every_member_of_a_batched_broadcast() -> None:
    members = [await _open() for _ in range(5)]
    legacy = await _open(v2=False)
    hub = get_hub(get_channel_layer())
    timers = hub.batches.timers_started
    before = get_recorder().counters["total_messages"]
    await members[0].send_json_to({"event": "burst", "data": {"count": 3}})
    frames = [await _frames_until(member, 3) for member in members[1:]]
    assert all(f == frames[0] for f in frames)  # the same frames, built once, for every member
    assert _events(frames[0]) == [("tick", {"n": n}) for n in range(3)]
    # One timer per flush of the whole group, not one per member.
    assert hub.batches.timers_started - timers <= len(frames[0]) < 5
    # v1 members get every event at once as its own frame.
    assert [json.loads(await legacy.receive_from(DEADLINE)) for _ in range(3)] == [
        {"event": "tick", "data": {"n": n}} for n in range(3)
    ]
    sender = await _frames_until(members[0], 3)
    assert _events(sender)[:3] == [("tick", {"n": n}) for n in range(3)]
    # The sender's own unbatched reply comes after the batch it joined, never before.
    reply = _events([await members[0].receive_from(DEADLINE)]) if len(_events(sender)) == 3 else []
    assert (_events(sender) + reply)[3:] == [("burst_done", {"count": 3})]
    assert get_recorder().counters["total_messages"] - before == 3 * 6 + 1  # each counted once
    for comm in [*members, legacy]:
        await comm.disconnect(timeout=DEADLINE)


@pytest.mark.slow
def test_batched_broadcast_frames_are_byte_identical_on_the_server() -> None:
    port = free_port()
    server = ServerProcess(
        [
            *("-m", "reznet_ws.server.cli", "--no-permessage-deflate"),
            *("-b", "127.0.0.1", "-p", str(port), "tests.hub_app:application"),
        ],
        port,
        env={"DJANGO_SETTINGS_MODULE": "tests.hub_settings"},
    )
    clients = [RawClient(server.port, v2=True) for _ in range(3)]  # (the port may have moved)
    try:
        for client in clients:
            parse_frame(client.frame())  # connection_established
        clients[0].send_json({"event": "burst", "data": {"start": 0, "count": 4, "batch": 1}})
        codec = Codec(default_field_map())
        received: list[list[bytes]] = []
        for client in clients[1:]:
            frames, ticks = [], 0
            while ticks < 4:
                frame = client.frame()
                frames.append(frame)
                _, payload, _ = parse_frame(frame)
                ticks += sum(
                    1 for event, _ in codec.decode_frame(payload.decode()) if event == "said"
                )
            received.append(frames)
        assert received[0] == received[1]  # byte for byte: one frame built, written to each
        payloads = [parse_frame(frame)[1].decode() for frame in received[0]]
        said = [data["n"] for p in payloads for event, data in codec.decode_frame(p)]
        assert said == [0, 1, 2, 3]
    finally:
        for client in clients:
            client.sock.close()
        server.stop()
