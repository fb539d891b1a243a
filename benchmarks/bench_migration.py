"""Migration benchmark: bytes per message and CPU per broadcast at each step of docs/migration.md.

Run: ``python benchmarks/bench_migration.py [--members 200] [--broadcasts 200] [--rounds 5]``
(prints a Markdown table and writes benchmarks/results/migration.json and .md; ``--out PATH``
writes them elsewhere).

Every step delivers the same chat messages (the chat messages of ``benchmarks/trace.py``, in a
Channels ``{"type": "chat.message", "message": ...}`` envelope for the ``send_json`` steps) to
``--members`` local consumers of one process, all v2 clients of the JavaScript client (they
offer ``reznet.v2`` and announce ``reznet_features=content``):

0. plain Channels: ``group_send`` to a ``chat.message`` handler that calls ``send_json``;
1. the same code with ``OptimizedConsumerMixin`` inherited: ``send_json`` sends content frames;
2. the handler calls ``send_event("message_new", message)`` instead;
3. members ``join_group()``, the sender calls ``broadcast()``: the process hub encodes once and
   hands the frame to every member, no per-member handler dispatch.

The consumers are real Channels consumers on the in-memory channel layer, driven through ASGI
with an in-process ``receive``/``send`` (no sockets), stats on as by default. "CPU" is process
CPU time per broadcast, from ``group_send``/``broadcast`` until every member has handed its frame
to ASGI ``send``; the best round of ``--rounds`` is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")

import django

django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402

import reznet_ws  # noqa: E402
from benchmarks.trace import make_trace  # noqa: E402
from reznet_ws.consumers import OptimizedConsumerMixin  # noqa: E402

__all__ = ["main", "run_step"]

RESULTS = Path(__file__).resolve().parent / "results"


class PlainConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Step 0: plain Channels."""

    async def connect(self) -> None:
        await self.channel_layer.group_add(self.scope["group"], self.channel_name)
        await self.accept()

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "chat.message", "message": event["message"]})


class MixinConsumer(OptimizedConsumerMixin, PlainConsumer):
    """Step 1: the same code, the mixin inherited."""


class EventConsumer(MixinConsumer):
    """Step 2: ``send_event`` in the handler."""

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_event("message_new", event["message"])


class HubConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Step 3: ``join_group`` members, ``broadcast()`` senders."""

    async def connect(self) -> None:
        await self.join_group(self.scope["group"])
        await self.accept()


class Members:
    """``count`` consumers driven through ASGI; counts the frames and bytes they send."""

    def __init__(self, consumer: Any, count: int, group: str) -> None:
        self.app = consumer.as_asgi()
        self.count, self.group = count, group
        self.inboxes: list[asyncio.Queue[dict[str, Any]]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.delivered = 0
        self.bytes = 0  # of member 0
        self.target = 0
        self.done = asyncio.Event()

    def _sender(self, index: int) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def send(message: dict[str, Any]) -> None:
            if message["type"] != "websocket.send":
                if message["type"] == "websocket.accept":
                    self._count()
                return
            payload = message.get("text")
            if payload is None:
                payload = message["bytes"]
            if index == 0:
                self.bytes += len(payload.encode() if isinstance(payload, str) else payload)
            self._count()

        return send

    def _count(self) -> None:
        self.delivered += 1
        if self.delivered == self.target:
            self.done.set()

    async def expect(self, frames: int, start: Callable[[], Awaitable[object]]) -> None:
        """Run ``start`` and wait until the members sent ``frames`` more frames in all."""
        self.done.clear()
        self.target = self.delivered + frames
        await start()
        await asyncio.wait_for(self.done.wait(), 60)

    async def open(self) -> None:
        async def connect_all() -> None:
            for index in range(self.count):
                inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
                self.inboxes.append(inbox)
                scope = {
                    "type": "websocket",
                    "path": "/ws/",
                    "query_string": b"reznet_features=content",
                    "headers": [],
                    "subprotocols": ["reznet.v2"],
                    "group": self.group,
                }
                task = self.app(scope, inbox.get, self._sender(index))
                self.tasks.append(asyncio.ensure_future(task))
                await inbox.put({"type": "websocket.connect"})

        await self.expect(self.count, connect_all)  # the accepts
        greeting = self.count if self.app.consumer_class is not PlainConsumer else 0
        if greeting:  # connection_established, sent right after each accept
            self.done.clear()
            self.target = 2 * self.count
            if self.delivered < self.target:
                await asyncio.wait_for(self.done.wait(), 60)
        self.bytes = 0

    async def close(self) -> None:
        for inbox in self.inboxes:
            await inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.gather(*self.tasks)


def chat_messages(count: int) -> list[dict[str, Any]]:
    """The chat messages of the example trace, ``count`` of them (repeated when needed)."""
    found = [data for event, data in make_trace(4000) if event == "message_new"]
    return [found[i % len(found)] for i in range(count)]


STEPS: dict[int, tuple[str, Any]] = {
    0: ("plain Channels: group_send + handler + send_json", PlainConsumer),
    1: ("step 1: inherit the mixin (send_json sends content frames)", MixinConsumer),
    2: ("step 2: send_event in the handler", EventConsumer),
    3: ("step 3: join_group + broadcast (process hub)", HubConsumer),
}


async def run_step(step: int, members: int, broadcasts: int, rounds: int) -> dict[str, Any]:
    """Return bytes per message and the best CPU and wall time per broadcast of ``step``."""
    _, consumer = STEPS[step]
    group = f"migration-{step}"
    layer = get_channel_layer()
    crowd = Members(consumer, members, group)
    await crowd.open()
    messages = chat_messages(broadcasts)

    async def one(message: dict[str, Any]) -> None:
        if step == 3:
            await reznet_ws.broadcast(group, "message_new", message, layer=layer)
        else:
            await layer.group_send(group, {"type": "chat.message", "message": message})

    for message in messages[:20]:  # warm-up: caches, code paths
        await crowd.expect(members, functools.partial(one, message))
    cpu, wall, size = [], [], 0
    for _ in range(rounds):
        crowd.bytes = 0
        c0, w0 = time.process_time(), time.perf_counter()
        for message in messages:
            await crowd.expect(members, functools.partial(one, message))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        size = crowd.bytes
    await crowd.close()
    return {
        "step": step,
        "bytes_per_message": round(size / broadcasts, 1),
        "cpu_ms_per_broadcast": round(1000 * min(cpu) / broadcasts, 3),
        "wall_ms_per_broadcast": round(1000 * min(wall) / broadcasts, 3),
    }


def render(results: list[dict[str, Any]], members: int) -> str:
    """Return the Markdown table of ``results``."""
    base = results[0]
    lines = [
        f"| step | bytes / message | vs plain | CPU ms / broadcast to {members} | vs plain |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results:
        lines.append(
            f"| {STEPS[row['step']][0]} | {row['bytes_per_message']:.0f} | "
            f"{row['bytes_per_message'] / base['bytes_per_message']:.0%} | "
            f"{row['cpu_ms_per_broadcast']:.2f} | "
            f"{row['cpu_ms_per_broadcast'] / base['cpu_ms_per_broadcast']:.0%} |"
        )
    return "\n".join(lines)


def result_doc(results: list[dict[str, Any]], members: int, broadcasts: int, rounds: int) -> dict:
    """Return the result file's content: the command that reproduces it, the machine, the steps."""
    command = "python benchmarks/bench_migration.py"
    command += f" --members {members} --broadcasts {broadcasts} --rounds {rounds}"
    return {
        "command": command,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "members": members,
        "broadcasts": broadcasts,
        "rounds": rounds,
        "steps": results,
    }


def markdown(doc: dict[str, Any]) -> str:
    """Return the results section: the command, then the table."""
    return (
        f"Command: `{doc['command']}` (Python {doc['python']}, {doc['machine']}).\n\n"
        + render(doc["steps"], doc["members"])
        + "\n"
    )


def write_results(doc: dict[str, Any], out: Path) -> None:
    """Write ``out`` (JSON) and its markdown section next to it (``.md``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(doc), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run every step; print the table and write ``--out`` (JSON) and its ``.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--broadcasts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out",
        "--json",
        type=Path,
        default=RESULTS / "migration.json",
        help="JSON results path, the markdown table goes next to it (.md); "
        "default benchmarks/results/migration.json",
    )
    args = parser.parse_args(argv)

    async def run_all() -> list[dict[str, Any]]:
        return [await run_step(s, args.members, args.broadcasts, args.rounds) for s in STEPS]

    results = asyncio.run(run_all())
    print(render(results, args.members))
    write_results(result_doc(results, args.members, args.broadcasts, args.rounds), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
