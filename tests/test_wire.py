"""End to end: a real daphne process serving the test suite's app, real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from reznet_ws.codec import (
    DEFAULT_FIELD_MAP,
    DEFAULT_TIMESTAMP_FIELDS,
    SUBPROTOCOL,
    Codec,
    FieldMap,
)

from .app_consumers import ANSWER
from .conftest import CLIENT_TIMEOUT, ServerProcess, ws_connect

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

FIELD_MAP = FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS)


async def collect(ws: Any, until: str, limit: int = 200) -> list[tuple[str | bytes, list]]:
    """Receive frames until an event named ``until`` arrives; return (raw, decoded events)."""
    codec = Codec(FIELD_MAP)
    frames = []
    for _ in range(limit):
        raw = await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)
        events = codec.decode_frame(raw)
        frames.append((raw, events))
        if any(event == until for event, _ in events):
            return frames
    raise AssertionError(f"{until} never arrived")


async def test_v2_and_v1_clients_on_a_real_daphne(app_server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{app_server.port}/ws/room/"
    origin = f"http://127.0.0.1:{app_server.port}"
    async with (
        ws_connect(url, subprotocols=[SUBPROTOCOL], origin=origin, compression=None) as v2,
        ws_connect(url, origin=origin, compression=None) as v1,
    ):
        assert v2.subprotocol == SUBPROTOCOL
        assert v1.subprotocol is None
        hello = json.loads(await v2.recv())
        assert hello["e"] == "connection_established"
        assert hello["d"]["map_hash"] == FIELD_MAP.hash

        await v2.send(
            json.dumps({"event": "send_message", "data": {"content": "hi", "stream": True}})
        )
        v2_frames = await collect(v2, "agent_status")  # the message, then the first status
        v2_frames += await collect(v2, "message_new")  # the chunks, then the whole answer
        v2_frames += await collect(v2, "agent_status")
        v1_frames = await collect(v1, "agent_status")
        v1_frames += await collect(v1, "message_new")
        v1_frames += await collect(v1, "agent_status")
        assert [e for _, evs in v1_frames for e, _ in evs] == [
            "message_new", "agent_status", *["message_chunk"] * len(ANSWER), "message_new",
            "agent_status",
        ]  # fmt: skip

        # v1: exactly plain Channels JSON, one event per frame
        for raw, events in v1_frames:
            assert isinstance(raw, str) and len(events) == 1
            assert raw == json.dumps(json.loads(raw))
        # the same events, decoded, in the same order
        assert [e for _, evs in v2_frames for e in evs] == [e for _, evs in v1_frames for e in evs]
        # v2 frames carry the flag, chunks were batched, and far fewer bytes crossed the wire
        assert all(json.loads(raw)["_v"] == 2 for raw, _ in v2_frames)
        assert any("b" in json.loads(raw) for raw, _ in v2_frames)
        assert len(v2_frames) < len(v1_frames)
        v2_bytes = sum(len(raw.encode()) for raw, _ in v2_frames)
        v1_bytes = sum(len(raw.encode()) for raw, _ in v1_frames)
        assert v2_bytes < 0.85 * v1_bytes
        first_message = next(d for _, evs in v2_frames for e, d in evs if e == "message_new")
        assert first_message["created_at"].endswith("Z")

        await v2.send(json.dumps({"event": "request_plan", "data": {"goal": "ship it"}}))
        plan_v2 = [f for f in await collect(v2, "workflow_plan") if f[1][0][0] == "workflow_plan"]
        plan_v1 = [f for f in await collect(v1, "workflow_plan") if f[1][0][0] == "workflow_plan"]
        assert isinstance(plan_v2[0][0], bytes)  # gzip binary frame
        assert plan_v2[0][1] == plan_v1[0][1]
        assert len(plan_v2[0][0]) < 0.3 * len(plan_v1[0][0])


async def test_bad_input_on_a_real_daphne(app_server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{app_server.port}/ws/room/"
    origin = f"http://127.0.0.1:{app_server.port}"
    async with ws_connect(url, subprotocols=[SUBPROTOCOL], origin=origin) as ws:
        await ws.recv()
        for _ in range(9):
            await ws.send("{not json")
            error = json.loads(await ws.recv())
            assert error["e"] == "error" and error["d"]["code"] == "malformed_json"
        await ws.send(b"\x00binary")
        assert json.loads(await ws.recv())["d"]["code"] == "unexpected_binary"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
