"""Soak benchmark: many WebSocket connections for minutes, with Redis restarted empty midway.

Not a test: it runs the real servers and reports what it measured.

Setup (all started here, all killed at the end):

* a ``redis-server`` of its own on a free port of 127.0.0.1, no persistence; at ``--restart-at``
  it is stopped (SIGTERM) and, ``--outage`` seconds later, started again, empty, on the same port;
* two server processes of ``benchmarks.soak_app`` (settings ``benchmarks.soak_settings``, a
  channels_redis core layer on that Redis): ``python -m reznet_ws.server.cli
  --no-permessage-deflate`` and plain ``python -m daphne``;
* this process: the load generator (asyncio + ``websockets``), half the clients on each server,
  one in ``--v2-every`` speaking ``reznet.v2``, the others v1 (plain JSON frames).

A sender connection per server shouts ``n = 0, 1, 2 ...`` at ``--rate`` per second in total
(alternately to each server) with ``t`` = send time; the server broadcasts ``tick {n, t}`` to the
room and acknowledges ``shouted {n, sent}``. Every client records which ``n`` it received. Every
10 s the RSS (``VmRSS``), open fds (``/proc/<pid>/fd``) and CPU time of both servers are sampled
and both are probed for their counters.

Results: per phase (before the stop, Redis down, Redis back but not yet delivering to every
client, after), the broadcasts sent / accepted / refused and the clients that missed accepted
ones; the servers' drop counters over the same time; the time to recover (Redis answering PING
to the completion of the first broadcast that reached every client); delivery latency
percentiles (receive time - ``t``). A markdown summary is printed, everything goes to ``--out``.

    python benchmarks/soak.py                      # 1,000 connections, 10 minutes
    python benchmarks/soak.py --duration 60 --connections 200 --out /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 10.0
CONNECT_CONCURRENCY = 50
DRAIN_SECONDS = 10.0


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_tcp(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop one process this script started (by its pid), SIGKILL after 5 s."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


class Redis:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        """Start redis-server; return the time it first answered PING."""
        self.starts += 1
        log = open(self.workdir / f"redis-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if redis_ping(self.port):
                return time.time()
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError("redis-server did not answer PING within 20 s")

    def stop(self) -> None:
        stop_process(self.proc)


def proc_sample(pid: int) -> dict[str, Any]:
    """RSS (kB), open fds and CPU seconds of ``pid`` from /proc."""
    rss_kb = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
                break
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return {"rss_kb": rss_kb, "fds": fds, "cpu_s": round(cpu, 2)}


def machine_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


# ----------------------------------------------------------------------------- load generator


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


async def soak(args: argparse.Namespace, redis: Redis, servers: dict[str, dict[str, Any]]) -> dict:
    from reznet_ws.codec import Codec
    from reznet_ws.encoding import default_field_map

    total = int(args.duration * args.rate)
    results = Results(total)
    names = list(servers)
    codec_v2 = Codec(default_field_map())
    clients: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    sockets: list[Any] = []
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connect_failures: list[str] = []

    async def open_client(i: int) -> None:
        server = names[i % len(names)]
        v2 = args.v2_every > 0 and (i // len(names)) % args.v2_every == 0
        client = Client(i, server, v2)
        async with sem:
            try:
                ws = await connect(servers[server]["uri"], v2)
            except Exception as exc:
                connect_failures.append(f"{server}: {type(exc).__name__}: {exc}")
                return
        clients.append(client)
        sockets.append(ws)
        bitmap = results.new_client()
        tasks.append(
            asyncio.ensure_future(run_client(ws, client, results, bitmap, codec_v2 if v2 else None))
        )

    samples: list[dict[str, Any]] = []
    busy0 = machine_busy()

    def sample(label: str, probes: dict[str, Any] | None = None) -> dict[str, Any]:
        nonlocal busy0
        busy1 = machine_busy()
        d_busy, d_all = busy1[0] - busy0[0], busy1[1] - busy0[1]
        busy0 = busy1
        s: dict[str, Any] = {
            "t": round(time.time() - t_origin, 1),
            "label": label,
            "machine_busy_pct": round(100.0 * d_busy / d_all, 1) if d_all else None,
            "loadgen_cpu_s": round(time.process_time(), 2),
            "open_clients": sum(1 for c in clients if c.closed_at is None),
        }
        for name, info in servers.items():
            try:
                s[name] = proc_sample(info["proc"].pid)
            except OSError as exc:
                s[name] = {"error": str(exc)}
            if probes and probes.get(name):
                s[name]["counters"] = probes[name]["counters"]
                s[name]["layer_problems"] = probes[name]["layer_problems"]
        samples.append(s)
        return s

    t_origin = time.time()
    sample("idle")
    t_connect = time.time()
    await asyncio.gather(*(open_client(i) for i in range(args.connections)))
    connect_seconds = time.time() - t_connect
    senders = {name: Sender(name, await connect(servers[name]["uri"], False)) for name in names}

    async def probe_all() -> dict[str, Any]:
        got = await asyncio.gather(*(s.probe() for s in senders.values()))
        return dict(zip(senders, got, strict=True))

    await asyncio.sleep(2.0)
    sample("connected", await probe_all())
    print(
        f"{len(clients)} clients connected in {connect_seconds:.1f} s "
        f"({len(connect_failures)} failures)",
        flush=True,
    )

    lags: list[float] = []
    stop_lag = asyncio.Event()
    lag_task = asyncio.ensure_future(loop_lag_monitor(lags, stop_lag))
    sent_t = array("d", bytes(8 * total))
    sent_to: list[str] = [""] * total
    t0 = time.time() + 0.5
    events: dict[str, float] = {}
    probes_at: dict[str, Any] = {}

    async def shouter() -> None:
        for n in range(total):
            delay = t0 + n / args.rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            name = names[n % len(names)]
            now = time.time()
            sent_t[n] = now
            sent_to[n] = name
            try:
                await senders[name].ws.send(
                    json.dumps({"event": "shout", "data": {"n": n, "t": now}})
                )
            except Exception:
                sent_t[n] = -now  # the sender's socket failed: not shouted

    async def restarter() -> None:
        await asyncio.sleep(max(0.0, t0 + args.restart_at - time.time()))
        probes_at["before_stop"] = await probe_all()
        sample("before_stop", probes_at["before_stop"])
        events["stop_issued"] = time.time()
        await asyncio.to_thread(redis.stop)
        events["redis_down"] = time.time()
        print(f"redis stopped at +{events['redis_down'] - t0:.1f} s", flush=True)
        await asyncio.sleep(args.outage)
        events["start_issued"] = time.time()
        events["redis_back"] = await asyncio.to_thread(redis.start)
        print(f"redis back at +{events['redis_back'] - t0:.1f} s", flush=True)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            sample("run", await probe_all())
            last = samples[-1]
            print(
                f"+{last['t']:.0f}s busy {last['machine_busy_pct']}% "
                + " ".join(
                    f"{n}: {last[n].get('rss_kb')} kB {last[n].get('fds')} fds" for n in names
                )
                + f" clients {last['open_clients']}",
                flush=True,
            )

    sampler_task = asyncio.ensure_future(sampler())
    restart_task = asyncio.ensure_future(restarter())
    await shouter()
    # Drain: every ack back and nothing arriving any more, bounded.
    drain_deadline = time.time() + DRAIN_SECONDS
    while time.time() < drain_deadline:
        if sum(len(s.acks) for s in senders.values()) >= total:
            await asyncio.sleep(2.0)
            break
        await asyncio.sleep(0.2)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(restart_task, 30)
    sampler_task.cancel()
    stop_lag.set()
    await lag_task
    probes_at["end"] = await probe_all()
    sample("end", probes_at["end"])
    t_end = time.time()

    for ws in [*sockets, *(s.ws for s in senders.values())]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for task in [*tasks, *(s.reader for s in senders.values())]:
        task.cancel()
    await asyncio.gather(*tasks, *(s.reader for s in senders.values()), return_exceptions=True)

    return analyse(
        args,
        results,
        clients,
        senders,
        sent_t,
        sent_to,
        t0,
        t_end,
        events,
        probes_at,
        samples,
        lags,
        connect_seconds,
        connect_failures,
    )


# ----------------------------------------------------------------------------- analysis


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100.0 * (len(sorted_values) - 1))))
    return round(sorted_values[k], 1)


def counter_delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, int]:
    if not a or not b:
        return {}
    ca, cb = a["counters"], b["counters"]
    keys = sorted(set(ca) | set(cb))
    return {k: cb.get(k, 0) - ca.get(k, 0) for k in keys if k.startswith("error:")}


def analyse(
    args,
    results,
    clients,
    senders,
    sent_t,
    sent_to,
    t0,
    t_end,
    events,
    probes_at,
    samples,
    lags,
    connect_seconds,
    connect_failures,
) -> dict[str, Any]:
    total = results.total
    n_clients = len(clients)
    down = events.get("redis_down", events.get("stop_issued"))
    stop_issued = events.get("stop_issued")
    back = events.get("redis_back")

    def ack(n: int) -> tuple[bool, float] | None:
        return senders[sent_to[n]].acks.get(n) if sent_to[n] else None

    # A client that closed early can only miss what was sent after it closed: count it apart.
    closed_at = sorted(
        c.closed_at for c in clients if c.closed_at is not None and c.closed_at < t_end - 1
    )

    def expected(n: int) -> int:
        return n_clients - sum(1 for when in closed_at if when < sent_t[n])

    # Recovery: the first broadcast shouted after the stop that reached every client once Redis
    # was back (one shouted as Redis was stopping may still have gone through before it died).
    recovered_n = None
    if stop_issued is not None and back is not None and n_clients:
        for n in range(total):
            if (
                sent_t[n] >= stop_issued
                and results.count[n] >= n_clients
                and results.last_recv[n] >= back
            ):
                recovered_n = n
                break
    recovered_at = results.last_recv[recovered_n] if recovered_n is not None else None

    def phase(n: int) -> str:
        t = sent_t[n]
        if stop_issued is None or t < stop_issued:
            return "before"
        if back is None or t < back:
            return "outage"
        if recovered_n is None or n < recovered_n:
            return "recovering"
        return "after"

    phases: dict[str, dict[str, Any]] = {
        p: {
            "sent": 0,
            "accepted": 0,
            "refused": 0,
            "unacked": 0,
            "accepted_missed": 0,
            "client_misses": 0,
            "refused_but_delivered": 0,
            "first_t": None,
            "last_t": None,
        }
        for p in ("before", "outage", "recovering", "after")
    }
    missed_list: list[dict[str, Any]] = []
    for n in range(total):
        if sent_t[n] <= 0:
            continue
        ph = phases[phase(n)]
        ph["sent"] += 1
        rel = round(sent_t[n] - t0, 2)
        ph["first_t"] = rel if ph["first_t"] is None else ph["first_t"]
        ph["last_t"] = rel
        a = ack(n)
        if a is None:
            ph["unacked"] += 1
            continue
        if not a[0]:
            ph["refused"] += 1
            if results.count[n]:
                ph["refused_but_delivered"] += 1
            continue
        ph["accepted"] += 1
        miss = expected(n) - results.count[n]
        if miss > 0:
            ph["accepted_missed"] += 1
            ph["client_misses"] += miss
            if len(missed_list) < 200:
                missed_list.append(
                    {
                        "n": n,
                        "server": sent_to[n],
                        "t": rel,
                        "acked_after_t": round(a[1] - t0, 2),
                        "missed_by": miss,
                        "phase": phase(n),
                    }
                )

    # Latency: all deliveries, and those of broadcasts shouted before the stop or after recovery.
    steady: list[float] = []
    everything: list[float] = []
    for n, ms in zip(results.lat_n, results.lat_ms, strict=True):
        everything.append(ms)
        if phase(n) in ("before", "after"):
            steady.append(ms)
    steady.sort()
    everything.sort()
    lat = {
        "steady": {f"p{p}": percentile(steady, p) for p in (50, 95, 99)}
        | {"max": round(steady[-1], 1) if steady else None, "count": len(steady)},
        "all": {f"p{p}": percentile(everything, p) for p in (50, 95, 99)}
        | {"max": round(everything[-1], 1) if everything else None, "count": len(everything)},
    }
    lags.sort()

    def proc_summary(name: str) -> dict[str, Any]:
        rows = [s[name] for s in samples if isinstance(s.get(name), dict) and "rss_kb" in s[name]]
        run = [
            r
            for s, r in zip([s for s in samples if "rss_kb" in s.get(name, {})], rows, strict=True)
            if s["label"] != "idle"
        ]
        start, end = run[0], run[-1]
        return {
            "idle_rss_kb": rows[0]["rss_kb"],
            "idle_fds": rows[0]["fds"],
            "start_rss_kb": start["rss_kb"],
            "end_rss_kb": end["rss_kb"],
            "max_rss_kb": max(r["rss_kb"] for r in run),
            "rss_growth_kb": end["rss_kb"] - start["rss_kb"],
            "start_fds": start["fds"],
            "end_fds": end["fds"],
            "max_fds": max(r["fds"] for r in run),
            "cpu_s": round(end["cpu_s"] - start["cpu_s"], 1),
        }

    names = list(senders)
    server_deltas = {
        name: counter_delta(
            (probes_at.get("before_stop") or {}).get(name), (probes_at.get("end") or {}).get(name)
        )
        for name in names
    }
    counted = {
        k: sum(d.get(k, 0) for d in server_deltas.values())
        for k in (
            "error:broadcast_failed",
            "error:broadcast_missed",
            "error:slow_client_drop",
            "error:undeliverable_on_close",
            "error:slow_client_closed",
            "error:discarded_on_close",
            "error:layer_unavailable",
        )
    }
    run_seconds = t_end - t0
    end_sample = samples[-1]
    busy = [
        s["machine_busy_pct"]
        for s in samples
        if s["label"] == "run" and s["machine_busy_pct"] is not None
    ]

    out = {
        "command": " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        "config": {
            "duration_s": args.duration,
            "connections": args.connections,
            "rate": args.rate,
            "restart_at_s": args.restart_at,
            "outage_s": args.outage,
            "v2_every": args.v2_every,
        },
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "clients": {
            "connected": n_clients,
            "v2": sum(c.v2 for c in clients),
            "connect_failures": len(connect_failures),
            "connect_failure_examples": connect_failures[:5],
            "connect_seconds": round(connect_seconds, 1),
            "closed_before_end": len(closed_at),
            "close_codes": sorted(
                {
                    str(c.close_code)
                    for c in clients
                    if c.closed_at is not None and c.closed_at < t_end - 1
                }
            ),
        },
        "broadcasts": {
            "shouted": sum(p["sent"] for p in phases.values()),
            "accepted": sum(p["accepted"] for p in phases.values()),
            "refused": sum(p["refused"] for p in phases.values()),
            "unacked": sum(p["unacked"] for p in phases.values()),
        },
        "phases": phases,
        "loss": {
            "outside_outage_client_misses": phases["before"]["client_misses"]
            + phases["recovering"]["client_misses"]
            + phases["after"]["client_misses"],
            "before_stop_client_misses": phases["before"]["client_misses"],
            "outage_client_misses": phases["outage"]["client_misses"],
            "recovering_client_misses": phases["recovering"]["client_misses"],
            "after_recovery_client_misses": phases["after"]["client_misses"],
            "servers_counted_since_stop": counted,
            "servers_counted_since_stop_per_server": server_deltas,
            "duplicates": results.duplicates,
            "out_of_range": results.out_of_range,
            "missed_broadcasts": missed_list,
        },
        "redis": {
            "stop_issued_s": round(stop_issued - t0, 2) if stop_issued else None,
            "down_s": round(down - t0, 2) if down else None,
            "back_s": round(back - t0, 2) if back else None,
            "down_for_s": round(back - down, 2) if back and down else None,
        },
        "recovery": {
            "first_full_broadcast_n": recovered_n,
            "its_send_time_s": round(sent_t[recovered_n] - t0, 2)
            if recovered_n is not None
            else None,
            "time_to_recover_s": round(recovered_at - back, 2)
            if recovered_at is not None and back is not None
            else None,
        },
        "latency_ms": lat,
        "servers": {name: proc_summary(name) for name in names},
        "server_counters_end": {name: (probes_at.get("end") or {}).get(name) for name in names},
        "loadgen": {
            "cpu_s": end_sample["loadgen_cpu_s"],
            "cpu_pct_of_core": round(100 * end_sample["loadgen_cpu_s"] / run_seconds, 1),
            "loop_lag_ms": {
                "p50": percentile(lags, 50),
                "p99": percentile(lags, 99),
                "max": round(lags[-1], 1) if lags else None,
            },
        },
        "machine_busy_pct": {
            "mean": round(sum(busy) / len(busy), 1) if busy else None,
            "max": max(busy) if busy else None,
        },
        "run_seconds": round(run_seconds, 1),
        "samples": samples,
    }
    return out


def markdown(r: dict[str, Any]) -> str:
    def kb(v: int | None) -> str:
        return "-" if v is None else f"{v / 1024:.1f} MB"

    s = r["servers"]
    names = list(s)
    ph = r["phases"]
    loss = r["loss"]
    counted = loss["servers_counted_since_stop"]
    lines = [
        f"Command: `python {r['command']}`",
        "",
        f"{r['clients']['connected']} clients ({r['clients']['v2']} v2), "
        f"{r['config']['rate']:g} broadcasts/s for {r['config']['duration_s']:g} s; Redis "
        f"stopped at +{r['redis']['down_s']} s, back (empty) at +{r['redis']['back_s']} s; "
        f"machine busy {r['machine_busy_pct']['mean']} % on average "
        f"(max {r['machine_busy_pct']['max']} %).",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| RSS start / end / max | "
        + " | ".join(
            f"{kb(s[n]['start_rss_kb'])} / {kb(s[n]['end_rss_kb'])} / {kb(s[n]['max_rss_kb'])}"
            for n in names
        )
        + " |",
        "| RSS growth over the run | "
        + " | ".join(f"{s[n]['rss_growth_kb'] / 1024:+.1f} MB" for n in names)
        + " |",
        "| open fds start / end (max) | "
        + " | ".join(f"{s[n]['start_fds']} / {s[n]['end_fds']} ({s[n]['max_fds']})" for n in names)
        + " |",
        "| CPU over the run | " + " | ".join(f"{s[n]['cpu_s']} s" for n in names) + " |",
        "",
        "| figure | value |",
        "|---|---|",
        f"| broadcasts shouted / accepted / refused / no answer | {r['broadcasts']['shouted']} / "
        f"{r['broadcasts']['accepted']} / {r['broadcasts']['refused']} / "
        f"{r['broadcasts']['unacked']} |",
        f"| servers' `error:broadcast_failed` since the stop | "
        f"{counted.get('error:broadcast_failed', 0)} |",
        f"| servers' `error:broadcast_missed` since the stop (client misses the receiving "
        f"processes counted) | {counted.get('error:broadcast_missed', 0)} |",
        f"| loss outside the outage (client misses of accepted broadcasts: before the stop / "
        f"after Redis is back) | **{loss['outside_outage_client_misses']}** "
        f"({loss['before_stop_client_misses']} / "
        f"{loss['recovering_client_misses'] + loss['after_recovery_client_misses']}) |",
        f"| loss inside the outage (accepted broadcasts missed / client misses) | "
        f"{ph['outage']['accepted_missed']} / {ph['outage']['client_misses']} |",
        f"| counted by the servers since the stop (slow_client_drop / undeliverable_on_close / "
        f"layer_unavailable faults) | {counted.get('error:slow_client_drop', 0)} / "
        f"{counted.get('error:undeliverable_on_close', 0)} / "
        f"{counted.get('error:layer_unavailable', 0)} |",
        f"| Redis down for | {r['redis']['down_for_s']} s |",
        f"| time to recover (Redis back to first broadcast at every client) | "
        f"{r['recovery']['time_to_recover_s']} s |",
        "| delivery latency p50 / p95 / p99 / max (outside the outage) | "
        + " / ".join(f"{r['latency_ms']['steady'][k]} ms" for k in ("p50", "p95", "p99", "max"))
        + " |",
        f"| clients closed before the end / duplicates | {r['clients']['closed_before_end']} / "
        f"{loss['duplicates']} |",
        f"| load generator CPU / event-loop lag p99 | {r['loadgen']['cpu_pct_of_core']} % of a "
        f"core / {r['loadgen']['loop_lag_ms']['p99']} ms |",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of broadcasting")
    parser.add_argument("--connections", type=int, default=1000, help="clients, over 2 servers")
    parser.add_argument("--rate", type=float, default=10.0, help="broadcasts per second")
    parser.add_argument(
        "--restart-at",
        type=float,
        default=None,
        help="seconds into the run when Redis is stopped (default duration/2)",
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=5.0,
        help="seconds between stopping Redis and starting it again",
    )
    parser.add_argument(
        "--v2-every",
        type=int,
        default=25,
        help="one client in this many speaks reznet.v2 (0: none)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results path")
    args = parser.parse_args(argv)
    if args.restart_at is None:
        args.restart_at = args.duration / 2

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections * 2 + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.soak_settings"
    workdir = Path(tempfile.mkdtemp(prefix="reznet-soak-"))
    redis = Redis(free_port(), workdir)
    prefix = f"soak-{os.getpid()}-{int(time.time())}"
    env = dict(
        os.environ,
        SOAK_REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        SOAK_PREFIX=prefix,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(SOAK_REDIS_URL=env["SOAK_REDIS_URL"], SOAK_PREFIX=prefix)
    servers: dict[str, dict[str, Any]] = {}
    code = 1
    try:
        redis.start()
        for name, module in (
            ("reznet-daphne", ["reznet_ws.server.cli", "--no-permessage-deflate"]),
            ("daphne", ["daphne"]),
        ):
            port = free_port()
            log = open(workdir / f"{name}.log", "wb")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    *module,
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "benchmarks.soak_app:application",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            servers[name] = {
                "proc": proc,
                "port": port,
                "log": workdir / f"{name}.log",
                "uri": f"ws://127.0.0.1:{port}/ws/soak/",
            }
        for info in servers.values():
            wait_tcp(info["port"], 60)
        import django

        django.setup(set_prefix=False)
        budget = args.duration + 300
        result = asyncio.run(asyncio.wait_for(soak(args, redis, servers), budget))
        for name, info in servers.items():
            result["servers"][name]["exit_code_during_run"] = info["proc"].poll()
            text = info["log"].read_text(errors="replace")
            result["servers"][name]["log_warnings"] = text.count("WARNING")
            result["servers"][name]["log_tracebacks"] = text.count("Traceback")
        md = markdown(result)
        result["markdown"] = md
        print()
        print(md)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1, default=str))
            print(f"\nresults: {args.out}")
        code = 0
    finally:
        for info in servers.values():
            stop_process(info["proc"])
        redis.stop()
        keep = os.environ.get("SOAK_KEEP_LOGS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for f in workdir.glob("*.log"):
                shutil.copy(f, Path(keep) / f.name)
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
