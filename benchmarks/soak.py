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
percentiles (receive time - ``t``). A markdown summary is printed; everything goes to ``--out``
(default benchmarks/results/soak.json), the summary next to it (soak.md).

The client side lives in ``benchmarks/soak_clients.py``, the analysis and the markdown summary in
``benchmarks/soak_report.py``.

    python benchmarks/soak.py                      # 1,000 connections, 10 minutes
    python benchmarks/soak.py --render             # rewrite results/soak.md from soak.json
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

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.soak_clients import (
    Client,
    Results,
    Sender,
    connect,
    loop_lag_monitor,
    run_client,
)
from benchmarks.soak_report import analyse, markdown, write_results

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

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


# ----------------------------------------------------------------------------- load generation


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
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "soak.json",
        help="JSON results path, the markdown summary goes next to it (.md); "
        "default benchmarks/results/soak.json",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: rewrite the .md of the existing --out file",
    )
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.out.read_text())
        result["markdown"] = markdown(result)
        write_results(result, args.out)
        return 0
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
        write_results(result, args.out)
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
