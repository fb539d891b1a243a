"""The client side of the soak benchmark (``benchmarks/soak.py``): the load generator's pieces.

:class:`Results` (what every client received, as a bitmap of ``n`` per client), :class:`Client`
and :func:`run_client` (one listening connection), :class:`Sender` (the shouting and probing
connection of one server), :func:`connect` and the event-loop lag monitor.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from typing import Any


class Results:
    """What the clients saw: a bitmap of ``n`` per client, counts and last receive per ``n``."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = array("I", bytes(4 * total))
        self.last_recv = array("d", bytes(8 * total))
        self.lat_n = array("I")
        self.lat_ms = array("f")
        self.duplicates = 0
        self.out_of_range = 0
        self.bitmaps: list[bytearray] = []

    def new_client(self) -> bytearray:
        bitmap = bytearray(self.total // 8 + 1)
        self.bitmaps.append(bitmap)
        return bitmap

    def tick(self, bitmap: bytearray, data: dict[str, Any], now: float) -> None:
        n = data["n"]
        if not 0 <= n < self.total:
            self.out_of_range += 1
            return
        i, bit = n >> 3, 1 << (n & 7)
        if bitmap[i] & bit:
            self.duplicates += 1
            return
        bitmap[i] |= bit
        self.count[n] += 1
        if now > self.last_recv[n]:
            self.last_recv[n] = now
        self.lat_n.append(n)
        self.lat_ms.append((now - data["t"]) * 1000.0)


class Client:
    def __init__(self, index: int, server: str, v2: bool) -> None:
        self.index = index
        self.server = server
        self.v2 = v2
        self.closed_at: float | None = None
        self.close_code: int | None = None


async def run_client(
    ws: Any, client: Client, results: Results, bitmap: bytearray, codec: Any
) -> None:
    loads = json.loads
    tick = results.tick
    clock = time.time
    try:
        async for raw in ws:
            now = clock()
            if codec is not None:
                for event, data in codec.decode_frame(raw):
                    if event == "tick":
                        tick(bitmap, data, now)
            else:
                msg = loads(raw)
                if msg.get("event") == "tick":
                    tick(bitmap, msg["data"], now)
    except Exception as exc:  # a closed connection ends the client; recorded below
        client.close_code = getattr(getattr(exc, "rcvd", None), "code", None)
    finally:
        client.closed_at = clock()
        if client.close_code is None and ws.close_code is not None:
            client.close_code = ws.close_code


class Sender:
    """The shouting (and probing) connection of one server."""

    def __init__(self, name: str, ws: Any) -> None:
        self.name = name
        self.ws = ws
        self.acks: dict[int, tuple[bool, float]] = {}
        self.probe_waiter: asyncio.Future[dict[str, Any]] | None = None
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            event, data = msg.get("event"), msg.get("data")
            if event == "shouted":
                self.acks[data["n"]] = (bool(data["sent"]), time.time())
            elif event == "probe" and self.probe_waiter and not self.probe_waiter.done():
                self.probe_waiter.set_result(data)

    async def probe(self, timeout: float = 5.0) -> dict[str, Any] | None:
        self.probe_waiter = asyncio.get_running_loop().create_future()
        try:
            await self.ws.send(json.dumps({"event": "probe", "data": {}}))
            return await asyncio.wait_for(self.probe_waiter, timeout)
        except Exception:
            return None


async def connect(uri: str, v2: bool) -> Any:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.typing import Subprotocol

    return await ws_connect(
        uri,
        subprotocols=[Subprotocol("reznet.v2")] if v2 else None,
        compression=None,
        ping_interval=None,
        open_timeout=60,
        close_timeout=2,
        max_queue=None,
    )


async def loop_lag_monitor(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.1)
        lags.append((loop.time() - before - 0.1) * 1000.0)
