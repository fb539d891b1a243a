"""permessage-deflate benchmark: bytes on the wire, CPU per message, memory per connection.

Run: ``python benchmarks/bench_deflate.py [--quick]`` (loopback only; about 4 minutes, 30 s with
``--quick``). Writes benchmarks/results/deflate.json and deflate.md.

Three parts:

1. **Wire** (real server): ``reznet-daphne`` replays the example trace (benchmarks/trace.py) and
   a 10 KB repetitive JSON message to a ``websockets`` client through a counting TCP proxy, with
   and without the extension, as plain Channels JSON (v1) and as v2 frames (``reznet_ws.codec``).
   The server's CPU time (``/proc/<pid>/stat``) per message is measured around each replay.
2. **Window sweep** (in process): the same messages through zlib exactly as autobahn frames them
   (raw deflate, sync flush, 4 bytes stripped), for window bits 9-15 and memory levels 1-9.
3. **Memory** (real server): 1,000 connections, each warmed with 80 KB each way so the zlib
   windows are fully touched, then idle; the server's RSS increase divided by 1,000.

The machine is shared: figures are noisy, run again before drawing fine conclusions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.trace import make_trace  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TRACE_EVENTS = 1000
WARM_BYTES = 80_000
CPU_MESSAGES = 10_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ----------------------------------------------------------------------------- messages


def plain(event: str, data: Any) -> str:
    """What a plain Channels AsyncJsonWebsocketConsumer sends (v1)."""
    return json.dumps({"event": event, "data": data})


def _v2_encoder() -> Callable[[str, Any], str] | None:
    try:
        from reznet_ws.codec import Codec
    except ImportError:
        return None
    codec = Codec()
    return lambda event, data: codec.event_frame(event, codec.encode_data(data))


def repetitive_10kb() -> str:
    """A 10 KB JSON message that repeats itself (a list of near-identical tasks)."""
    tasks = [
        {"id": f"task-{i:03d}", "name": "Run the integration suite", "status": "pending",
         "agent_name": "@qa", "priority": "normal", "depends_on": []}
        for i in range(200)
    ]  # fmt: skip
    text = json.dumps({"event": "workflow_plan", "data": {"tasks": tasks}})
    while len(text) > 10_240:
        tasks.pop()
        text = json.dumps({"event": "workflow_plan", "data": {"tasks": tasks}})
    return text


def message_sets() -> dict[str, list[str]]:
    """Every set of messages the benchmark sends, by name."""
    trace = make_trace(TRACE_EVENTS)
    sets = {"trace v1": [plain(e, d) for e, d in trace]}
    v2 = _v2_encoder()
    if v2 is not None:
        sets["trace v2"] = [v2(e, d) for e, d in trace]
    sets["10 KB repetitive, first"] = [repetitive_10kb()]
    sets["10 KB repetitive x50"] = [repetitive_10kb()] * 50
    return sets


# ----------------------------------------------------------------------------- the served app

_SETS: dict[str, list[str]] = {}


async def application(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """ASGI app served by reznet-daphne.

    ``replay:<set>:<n>`` sends a message set n times, ``warm`` sends 80 KB of the trace; every
    command ends with a ``done`` frame.
    """
    if scope["type"] != "websocket":
        return
    if not _SETS:
        _SETS.update(message_sets())
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] != "websocket.disconnect":
        text = message.get("text") or ""
        if text.startswith("replay:"):
            _, name, repeat = text.split(":")
            for frame in _SETS[name] * int(repeat):
                await send({"type": "websocket.send", "text": frame})
        elif text == "warm":
            sent = 0
            for frame in _SETS["trace v1"]:
                await send({"type": "websocket.send", "text": frame})
                sent += len(frame)
                if sent >= WARM_BYTES:
                    break
        await send({"type": "websocket.send", "text": "done"})


# ----------------------------------------------------------------------------- in-process sweep


def deflate_frames(
    messages: list[str], bits: int, mem_level: int, level: int = 6
) -> tuple[int, float]:
    """Return (bytes on the wire, CPU seconds) for ``messages`` compressed as autobahn does."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)
    total = 0
    start = time.process_time()
    for text in messages:
        payload = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
        total += _frame_size(len(payload) - 4)
    return total, time.process_time() - start


def _frame_size(payload: int) -> int:
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


def sweep(sets: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = []
    grid = [(bits, 5) for bits in range(9, 16)]
    grid += [(12, mem) for mem in range(1, 10) if mem != 5] + [(15, 8)]
    for bits, mem in grid:
        row: dict[str, Any] = {"window_bits": bits, "mem_level": mem}
        for name, messages in sets.items():
            plain_bytes = sum(_frame_size(len(m.encode())) for m in messages)
            runs = [deflate_frames(messages, bits, mem) for _ in range(3)]
            wire = runs[0][0]
            row[name] = {
                "bytes_per_msg": round(wire / len(messages), 1),
                "pct_of_plain_frames": round(100 * wire / plain_bytes, 1),
                "cpu_us_per_msg": round(1e6 * median(r[1] for r in runs) / len(messages), 1),
            }
        row["zlib_kb"] = round(zlib_memory(bits, mem, bits) / 1024, 1)
        rows.append(row)
    return rows


def zlib_memory(server_bits: int, mem_level: int, client_bits: int) -> int:
    """zlib's documented allocation: deflate (server->client) plus inflate (client->server)."""
    deflate = (1 << (server_bits + 2)) + (1 << (mem_level + 9)) + 5_900
    inflate = (1 << client_bits) + 7_100
    return deflate + inflate


# ----------------------------------------------------------------------------- server process


class Server:
    """reznet-daphne on 127.0.0.1 serving :func:`application`, stopped on exit."""

    def __init__(self, *flags: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        argv = [sys.executable, "-m", "reznet_ws.server.cli", "-v", "0", "-b", "127.0.0.1",
                "-p", str(self.port), "--deflate-server-context-takeover", *flags,
                "benchmarks.bench_deflate:application"]  # fmt: skip
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {argv}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@contextlib.contextmanager
def serving(*flags: str) -> Iterator[Server]:
    server = Server(*flags)
    try:
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------------- wire replay


class CountingProxy:
    """TCP proxy counting the bytes the server sends."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.downstream = 0
        self.port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CountingProxy]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(
            self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count:
                    self.downstream += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def replay(
    server: Server, name: str, count: int, repeat: int, compression: bool
) -> tuple[float, float]:
    """Return (wire bytes, server CPU seconds) per message for ``repeat`` passes over a set."""
    from websockets.asyncio.client import connect

    proxy = CountingProxy(server.port)
    kwargs: dict[str, Any] = {"max_size": None}
    if not compression:
        kwargs["compression"] = None
    async with proxy.running(), connect(f"ws://127.0.0.1:{proxy.port}/", **kwargs) as ws:
        await ws.send("ping")
        await ws.recv()  # "done": the handshake and this frame are before the mark
        mark, cpu = proxy.downstream, server.cpu_s()
        await ws.send(f"replay:{name}:{repeat}")
        received = 0
        while await ws.recv() != "done":
            received += 1
        # less the "done" frame: 6 bytes, 5 to 7 compressed, so per message within a byte
        wire, cpu = proxy.downstream - mark - 6, server.cpu_s() - cpu
        negotiated = ws.response is not None and bool(
            ws.response.headers.get("Sec-WebSocket-Extensions")
        )
    total = count * repeat
    assert received == total and negotiated == compression, (received, total, negotiated)
    return wire / total, cpu / total


def wire(sets: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for compression in (False, True):
        with serving() as server:
            for name, messages in sets.items():
                # CPU from /proc has a 10 ms resolution: time thousands of messages, or none.
                repeat = -(-CPU_MESSAGES // len(messages)) if len(messages) > 1 else 1
                size, _ = asyncio.run(replay(server, name, len(messages), 1, compression))
                cpu = [
                    asyncio.run(replay(server, name, len(messages), repeat, compression))[1]
                    for _ in range(3 if repeat > 1 else 0)
                ]
                row = results.setdefault(name, {"messages": len(messages)})
                row["deflate" if compression else "plain"] = {
                    "bytes_per_msg": round(size, 1),
                    "server_cpu_us_per_msg": round(1e6 * median(cpu), 1) if cpu else None,
                }
    for name, row in results.items():
        # v2 is compared with the plain JSON of the same events (trace v1), as the target says.
        reference = results["trace v1" if name.startswith("trace") else name]["plain"]
        for variant in ("plain", "deflate"):
            share = row[variant]["bytes_per_msg"] / reference["bytes_per_msg"]
            row[variant]["pct_of_plain_json"] = round(100 * share, 1)
    return results


# ----------------------------------------------------------------------------- memory


async def _open_idle(port: int, n: int) -> list[Any]:
    from websockets.asyncio.client import connect

    upstream = plain("upload", [d for _, d in make_trace(400)])[:WARM_BYTES]
    gate = asyncio.Semaphore(50)

    async def one() -> Any:
        async with gate:
            ws = await connect(f"ws://127.0.0.1:{port}/", max_size=None, open_timeout=60)
            await ws.send(upstream)  # warms the server's inflater
            await ws.recv()
            await ws.send("warm")  # the server's compressor: 80 KB of trace
            while await ws.recv() != "done":
                pass
            return ws

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _measure_idle(server: Server, n: int) -> float:
    connections = await _open_idle(server.port, 1)  # warm-up: first-connection allocations
    await asyncio.sleep(0.5)
    before = server.rss_kb()
    connections += await _open_idle(server.port, n)
    await asyncio.sleep(1.0)
    after = server.rss_kb()
    await asyncio.gather(*(ws.close() for ws in connections))
    return (after - before) / n


def memory(n: int, configs: list[tuple[int, int] | None]) -> list[dict[str, Any]]:
    rows = []
    for config in configs:
        if config is None:
            flags: tuple[str, ...] = ("--no-permessage-deflate",)
        else:
            bits, mem = config
            flags = ("--deflate-server-window-bits", str(bits), "--deflate-client-window-bits",
                     str(bits), "--deflate-mem-level", str(mem))  # fmt: skip
        with serving(*flags) as server:
            kb = asyncio.run(_measure_idle(server, n))
        row: dict[str, Any] = {"deflate": config is not None, "kb_per_connection": round(kb, 1)}
        if config is not None:
            bits, mem = config
            row.update(window_bits=bits, mem_level=mem)
            row["zlib_kb"] = round(zlib_memory(bits, mem, bits) / 1024, 1)
        rows.append(row)
        print(f"  memory {config or 'no deflate'}: {kb:.1f} KB/connection", flush=True)
    return rows


# ----------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 connections, fewer settings")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    sets = message_sets()
    print("window sweep (in process)...", flush=True)
    sweep_rows = sweep(sets)
    print("wire replay (reznet-daphne)...", flush=True)
    wire_rows = wire(sets)
    print("memory per connection...", flush=True)
    if args.quick:
        n, configs = 200, [None, (12, 5), (15, 8)]
    else:
        n = 1000
        configs = [None, *((bits, 5) for bits in range(9, 16)), (12, 1), (12, 3), (12, 8), (15, 8)]
    memory_rows = memory(n, configs)
    result = {
        "command": "python benchmarks/bench_deflate.py" + (" --quick" if args.quick else ""),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared, noisy)",
        "seconds": round(time.monotonic() - started),
        "v2_codec": "trace v2" in sets,
        "trace_events": TRACE_EVENTS,
        "wire": wire_rows,
        "sweep": sweep_rows,
        "memory": {"connections": n, "rows": memory_rows},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deflate.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "deflate.md").write_text(render(result))
    print(render(result))
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        "## permessage-deflate",
        "",
        f"Command: `{r['command']}` (Python {r['python']}, {r['machine']}, {r['seconds']} s). "
        f"Trace: benchmarks/trace.py, {r['trace_events']} events; v2 frames from reznet_ws.codec"
        + ("" if r["v2_codec"] else " (not available: v1 only)")
        + ".",
        "",
        "### Bytes and server CPU per message on the wire (reznet-daphne, defaults)",
        "",
        "| messages | plain B/msg | deflate B/msg | % of plain JSON (plain → deflate) "
        "| server CPU µs/msg (plain → deflate) |",
        "|---|---|---|---|---|",
    ]
    for name, row in r["wire"].items():
        p, d = row["plain"], row["deflate"]
        lines.append(
            f"| {name} | {p['bytes_per_msg']:,} | {d['bytes_per_msg']:,} "
            f"| {p['pct_of_plain_json']} % → **{d['pct_of_plain_json']} %** "
            f"| {_or_dash(p['server_cpu_us_per_msg'])} → {_or_dash(d['server_cpu_us_per_msg'])} |"
        )
    names = [k for k in r["sweep"][0] if isinstance(r["sweep"][0][k], dict)]
    lines += [
        "",
        "### Window and memory level sweep (zlib in process, level 6, context takeover)",
        "",
        "Bytes per message as % of the same messages in uncompressed frames; compress CPU µs/msg; "
        "zlib's documented memory for one connection (deflate + inflate).",
        "",
        "| window bits | mem level | " + " | ".join(names) + " | zlib KB |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for row in r["sweep"]:
        cells = [
            f"{row[n]['pct_of_plain_frames']} % ({row[n]['cpu_us_per_msg']} µs)" for n in names
        ]
        lines.append(
            f"| {row['window_bits']} | {row['mem_level']} | "
            + " | ".join(cells)
            + f" | {row['zlib_kb']} |"
        )
    lines += [
        "",
        f"### Server memory per idle connection ({r['memory']['connections']:,} connections, "
        "each warmed with 80 KB each way)",
        "",
        "| deflate | window bits | mem level | KB per connection (RSS) | zlib KB (documented) |",
        "|---|---|---|---|---|",
    ]
    for row in r["memory"]["rows"]:
        cells = [row.get("window_bits", "-"), row.get("mem_level", "-"), row["kb_per_connection"]]
        cells.append(row.get("zlib_kb", "-"))
        lines.append(
            f"| {'on' if row['deflate'] else 'off'} | " + " | ".join(map(str, cells)) + " |"
        )
    return "\n".join(lines) + "\n"


def _or_dash(value: object) -> object:
    return "-" if value is None else value


if __name__ == "__main__":
    main()
