"""Client side of the load benchmark: N WebSocket clients in one asyncio process.

Started by the wsbench harness, ``benchmarks/wsbench/`` (one or several processes), driven
by JSON lines:

* on stdout it writes ``{"type": "connect_progress" | "connected" | "started" |
  "drain_progress" | "result", ...}``;
* on stdin it reads ``{"cmd": "start"}`` (reset the counters: the broadcast phase begins),
  ``{"cmd": "finish", "expected": C, "drain": S}`` (wait up to ``S`` seconds for every client to
  hold events ``0..C-1``, write the result file, close) and ``{"cmd": "quit"}``.

Each client records, per ``bench_seq`` event, the latency ``time.time() when the frame's bytes
arrived - bench_t``, reading the stamp from the frame's head (:func:`peek_stamp`); the first
``--verify-clients`` clients of each process decode every frame in full with
:meth:`reznet_ws.codec.Codec.decode_frame` (v1 and v2, gzip included, with the field map the server
announced) and check the head against it. The process also measures what it costs itself: its CPU
time and the lag of its own event loop over the broadcast phase, so a run can show that the load
generator was not the bottleneck. It exits on its own after ``--max-time`` seconds or when stdin
closes.

The connections themselves (the raw RFC 6455 client and the ``websockets`` one) are in
``benchmarks/loadgen_connections.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import zlib
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen_connections import RawConnection, WebsocketsConnection
from reznet_ws.codec import SUBPROTOCOL, Codec, FieldMap, ProtocolError

__all__ = ["BenchClient", "LoadGenerator", "RawConnection", "main", "peek_stamp", "stamp_size"]

_LAG_PERIOD = 0.01  # seconds between two event-loop lag probes


_HEAD = re.compile(
    r'\{"(?:_v":2,"e|event)": ?"([^"\\]+)",(?:"r":1,)? ?"(?:d|data)": ?'
    r'\{"bench_seq": ?(\d+), ?"bench_t": ?([-+.0-9eE]+)[,}]'
)
_HEAD_BYTES = 512


def peek_stamp(raw: str | bytes) -> tuple[str, int, float] | None:
    """Return (event, bench_seq, bench_t) from the head of a one-event frame, else None.

    Reads v1 and v2 event frames, gzip ones by inflating only their first bytes. Anything else
    (batch frames, control events) gives None and is decoded in full.
    """
    if isinstance(raw, bytes):
        try:
            inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _HEAD_BYTES)
        except zlib.error:
            return None
        head = inflated.decode("utf-8", "ignore")
    else:
        head = raw
    match = _HEAD.match(head)
    if match is None:
        return None
    return match[1], int(match[2]), float(match[3])


def stamp_size(raw: str | bytes, seq: int, sent_at: float) -> int:
    """Return the bytes that ``bench_seq`` and ``bench_t`` add to a text frame.

    The load test's own stamp is not part of the application's payload: subtracting it keeps the
    bytes-per-message comparison with plain Channels honest. v2 frames are compact JSON, v1 frames
    ``json.dumps`` with its default separators; a gzip frame's share cannot be told, so it is 0.
    """
    if isinstance(raw, bytes):
        return 0
    if raw.startswith('{"_v"'):
        return len(f'"bench_seq":{seq},"bench_t":{sent_at!r},')
    return len(f'"bench_seq": {seq}, "bench_t": {sent_at!r}, ')


class BenchClient:
    """One connection: what it received, in which order, and how many bytes it cost."""

    def __init__(self, gen: LoadGenerator, url: str, verify: bool = False) -> None:
        self.gen = gen
        self.url = url
        self.conn: RawConnection | WebsocketsConnection | None = None
        self.codec = gen.default_codec
        self.seen = bytearray()
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.last_seq = -1
        self.payload_bytes = 0
        self.stamp_bytes = 0
        self.wire_at_start = 0
        self.closing = False
        self.dropped = False
        self.verify = verify

    async def connect(self) -> None:
        """Open the socket; raises on failure."""
        gen = self.gen
        if gen.client_kind == "websockets" or gen.deflate or not self.url.startswith("ws://"):
            self.conn = await WebsocketsConnection.open(
                self, self.url, gen.subprotocols, gen.open_timeout, gen.deflate
            )
        else:
            self.conn = await RawConnection.open(self, self.url, gen.subprotocols, gen.open_timeout)

    def on_lost(self) -> None:
        """Called when the connection ends: unless we closed it, it was dropped."""
        if not self.closing:
            self.dropped = True

    def on_frame(self, raw: str | bytes, received_at: float) -> None:
        """Record the ``bench_seq`` events of one frame; called for every frame.

        Most clients read the stamp from the frame's head (:func:`peek_stamp`), so that a burst
        of 10 KB frames to hundreds of clients does not queue up behind Python decoding; the
        first ``--verify-clients`` of each process decode every frame with the codec and check
        that the head said the same.
        """
        gen = self.gen
        stamps = None
        if self.verify:
            stamps = self.decode(raw)
            head = peek_stamp(raw)
            gen.verified_frames += 1
            if head is not None and [head] != stamps:
                gen.verify_mismatches += 1
        else:
            head = peek_stamp(raw)
            stamps = [head] if head is not None else self.decode(raw)
        if not stamps:
            return
        for _, seq, sent_at in stamps:
            if self.record_seq(seq):
                gen.latencies.append((received_at - sent_at) * 1000.0)
                gen.seqs.append(seq)
        size = len(raw) if isinstance(raw, bytes) or raw.isascii() else len(raw.encode())
        overhead = sum(stamp_size(raw, seq, sent_at) for _, seq, sent_at in stamps)
        self.payload_bytes += size
        self.stamp_bytes += overhead
        stat = gen.event_bytes.setdefault(stamps[0][0], [0, 0, 0])
        stat[0] += 1
        stat[1] += size
        stat[2] += overhead

    def decode(self, raw: str | bytes) -> list[tuple[str, int, float]]:
        """Decode a frame with the codec; return its (event, bench_seq, bench_t) stamps."""
        try:
            events = self.codec.decode_frame(raw)
        except (ProtocolError, ValueError):
            self.gen.decode_errors += 1
            return []
        stamps = []
        for event, data in events:
            if type(data) is dict and "bench_seq" in data:
                stamps.append((event, data["bench_seq"], data["bench_t"]))
            elif event == "connection_established" and isinstance(data, dict):
                self.codec = self.gen.codec_for(data)
        return stamps

    def record_seq(self, seq: int) -> bool:
        """Count event ``seq``; return False for a duplicate."""
        seen = self.seen
        if seq >= len(seen):
            seen.extend(bytes(seq - len(seen) + 256))
        if seen[seq]:
            self.duplicates += 1
            return False
        seen[seq] = 1
        self.unique += 1
        self.gen.unique_total += 1
        if seq < self.last_seq:
            self.out_of_order += 1
        self.last_seq = max(self.last_seq, seq)
        return True

    def reset(self) -> None:
        """Forget what arrived before the broadcast phase (the ``connection_established``)."""
        self.payload_bytes = 0
        self.stamp_bytes = 0
        self.wire_at_start = self.conn.wire_bytes if self.conn is not None else 0

    @property
    def wire_bytes(self) -> int:
        return (self.conn.wire_bytes if self.conn is not None else 0) - self.wire_at_start

    async def close(self) -> None:
        self.closing = True
        if self.conn is not None:
            await self.conn.close()


class LoadGenerator:
    """The clients of one process, their shared counters and the stdin/stdout protocol."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.urls: list[str] = args.url
        self.count: int = args.clients
        self.offset: int = args.offset
        self.subprotocols = [SUBPROTOCOL] if args.v2 else None
        self.deflate: bool = args.deflate
        self.client_kind: str = args.client
        self.open_timeout: float = args.open_timeout
        self.concurrency: int = args.concurrency
        self.verify_clients: int = args.verify_clients
        self.result_path = Path(args.result)
        self.default_codec = Codec()
        self._codecs: dict[str, Codec] = {}
        self.clients: list[BenchClient] = []
        self.latencies = array("d")
        self.seqs = array("q")
        self.event_bytes: dict[str, list[int]] = {}
        self.unique_total = 0
        self.decode_errors = 0
        self.verified_frames = 0
        self.verify_mismatches = 0
        self.errors: Counter[str] = Counter()
        self.lags = array("d")
        self.socket_waits = array("d")
        self.measuring = False
        self.connect_seconds = 0.0

    def codec_for(self, info: dict[str, Any]) -> Codec:
        """Return the codec for the field map a ``connection_established`` announced."""
        mapping = info.get("field_map")
        if not isinstance(mapping, dict):
            return self.default_codec
        key = str(info.get("map_hash"))
        if key not in self._codecs:
            self._codecs[key] = Codec(FieldMap(mapping, info.get("timestamp_fields") or ()))
        return self._codecs[key]

    @staticmethod
    def emit(**message: Any) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def connect_all(self) -> None:
        """Open every client, ``concurrency`` handshakes at a time, reporting progress."""
        semaphore = asyncio.Semaphore(self.concurrency)
        started = time.monotonic()
        done = 0

        async def one(index: int) -> None:
            nonlocal done
            url = self.urls[(self.offset + index) % len(self.urls)]
            client = BenchClient(self, url, verify=index < self.verify_clients)
            async with semaphore:
                try:
                    await client.connect()
                    self.clients.append(client)
                except Exception as exc:
                    self.errors[type(exc).__name__] += 1
            done += 1
            if done % 50 == 0:
                self.emit(type="connect_progress", done=done, failed=sum(self.errors.values()))

        await asyncio.gather(*(one(i) for i in range(self.count)))
        self.connect_seconds = time.monotonic() - started
        self.emit(
            type="connected",
            ok=len(self.clients),
            failed=sum(self.errors.values()),
            errors=dict(self.errors),
            seconds=round(self.connect_seconds, 3),
        )

    async def probe_lag(self) -> None:
        """Measure how late this process's event loop wakes up, while measuring."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(_LAG_PERIOD)
            if self.measuring:
                self.lags.append(loop.time() - before - _LAG_PERIOD)

    def start(self) -> None:
        for client in self.clients:
            client.reset()
        del self.latencies[:], self.seqs[:], self.lags[:], self.socket_waits[:]
        self.event_bytes.clear()
        self.unique_total = 0
        self.measuring = True
        self._cpu0 = _cpu_seconds()
        self._wall0 = time.monotonic()
        self.emit(type="started")

    async def drain(self, expected: int, timeout: float) -> None:
        """Wait until every live client holds ``expected`` events, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.emit(
                type="drain_progress",
                received=self.unique_total,
                expected=expected * len(self.clients),
            )
            if all(c.unique >= expected or c.dropped for c in self.clients):
                break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        self.measuring = False
        self.cpu = _cpu_seconds() - self._cpu0
        self.wall = time.monotonic() - self._wall0

    def result(self, expected: int) -> dict[str, Any]:
        """Return what this process measured, as the JSON written to ``--result``."""
        clients = self.clients
        return {
            "clients": self.count,
            "connected": len(clients),
            "failed": sum(self.errors.values()),
            "errors": dict(self.errors),
            "dropped": sum(1 for c in clients if c.dropped),
            "connect_seconds": self.connect_seconds,
            "expected": expected,
            "unique": [c.unique for c in clients],
            "duplicates": sum(c.duplicates for c in clients),
            "out_of_order": sum(c.out_of_order for c in clients),
            "decode_errors": self.decode_errors,
            "verified_frames": self.verified_frames,
            "verify_mismatches": self.verify_mismatches,
            "payload_bytes": [c.payload_bytes for c in clients],
            "stamp_bytes": [c.stamp_bytes for c in clients],
            "wire_bytes": [c.wire_bytes for c in clients],
            "event_bytes": self.event_bytes,
            "latency_ms": [round(x, 3) for x in self.latencies],
            "seq": list(self.seqs),
            "cpu_seconds": self.cpu,
            "wall_seconds": self.wall,
            "loop_lag_ms": sorted(round(x * 1000.0, 3) for x in self.lags),
            "socket_wait_ms": sorted(round(x * 1000.0, 3) for x in self.socket_waits),
            "kernel_timestamps": bool(clients)
            and all(isinstance(c.conn, RawConnection) and c.conn.kernel_times for c in clients),
        }

    async def close_all(self) -> None:
        closing = [asyncio.ensure_future(c.close()) for c in self.clients]
        if closing:
            await asyncio.wait(closing, timeout=10)
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)
        for client in self.clients:
            if client.conn is not None:
                client.conn.abort()

    async def serve(self) -> None:
        """Connect, then obey stdin until ``finish`` or ``quit`` (or stdin closes)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        prober = asyncio.ensure_future(self.probe_lag())
        try:
            await self.connect_all()
            while line := await reader.readline():
                command = json.loads(line)
                if command["cmd"] == "start":
                    self.start()
                elif command["cmd"] == "finish":
                    await self.drain(int(command["expected"]), float(command["drain"]))
                    self.result_path.write_text(json.dumps(self.result(int(command["expected"]))))
                    self.emit(type="result", path=str(self.result_path))
                    break
                else:
                    break
        finally:
            prober.cancel()
            await self.close_all()
            transport.close()


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        action="append",
        required=True,
        help="WebSocket URL; repeat it to spread the clients round-robin",
    )
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument(
        "--offset",
        type=int,
        default=0,
        help="index of this process's first client (for the round-robin)",
    )
    parser.add_argument("--v2", action="store_true", help=f"offer the {SUBPROTOCOL} subprotocol")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="offer permessage-deflate (uses the websockets client)",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="the built-in minimal client (default) or the websockets library's",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes at a time")
    parser.add_argument(
        "--verify-clients",
        type=int,
        default=2,
        help="clients that decode every frame in full with the codec (the others read the head)",
    )
    parser.add_argument("--open-timeout", type=float, default=20.0)
    parser.add_argument(
        "--max-time",
        type=float,
        default=900.0,
        help="exit after this many seconds whatever happens",
    )
    parser.add_argument("--result", required=True, help="where to write the result JSON")
    args = parser.parse_args(argv)
    if not 0 < args.clients <= 20_000:
        parser.error("--clients must be in 1..20000")
    return args


async def _amain(args: argparse.Namespace) -> None:
    generator = LoadGenerator(args)
    try:
        await asyncio.wait_for(generator.serve(), args.max_time)
    except TimeoutError:
        LoadGenerator.emit(type="error", detail=f"gave up after --max-time {args.max_time}s")


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m benchmarks.loadgen --url ws://... --clients N --result F``."""
    _raise_fd_limit()
    asyncio.run(_amain(parse_args(argv)))


def _raise_fd_limit() -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    main()
