"""One run (a server kind at one N) from start to figures, and the summary of its results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

from benchmarks.wsbench.options import (
    CDF_POINTS,
    LOADGEN_CPU_LIMIT,
    LOADGEN_LAG_LIMIT_MS,
    MACHINE_BUSY_PCT,
    BenchOptions,
    Progress,
)
from benchmarks.wsbench.processes import (
    Control,
    LoadGenProcess,
    LocalServer,
    machine_cpu,
    proc_cpu_seconds,
    proc_rss,
    raise_fd_limit,
)
from benchmarks.wsbench.report import one_line


class Run:
    """One server kind at one N: servers, clients, broadcasts, measurements."""

    def __init__(self, options: BenchOptions, target: str, n: int, progress: Progress) -> None:
        self.options = options
        self.target = target
        self.n = n
        self.progress = progress
        self.run_id = f"{os.getpid()}-{int(time.time() * 1000) % 10**9}"
        self.group = f"wsbench-{self.run_id}-{target}-{n}"
        self.servers: list[LocalServer] = []
        self.loadgens: list[LoadGenProcess] = []
        self.control: Control | None = None
        self.correction_ms = 0.0
        self.out: dict[str, Any] = {
            "target": target,
            "clients": n,
            "layer": options.layer,
            "servers": len(options.urls) or options.servers,
            "rate": options.rate,
            "duration": options.duration,
            "load_average": list(os.getloadavg()),
        }

    @property
    def local(self) -> bool:
        return not self.options.urls

    def endpoint(self, base: str, group: str) -> str:
        if self.target == "ours-group-add":
            return f"{base.rstrip('/')}/ws/bench/ours/?group={group}&hub=0"
        return f"{base.rstrip('/')}/ws/bench/{self.target}/?group={group}"

    async def execute(self, workdir: Path) -> dict[str, Any]:
        try:
            bases = await self.start_servers()
            self.control = await Control.open(bases[0], self.options.token)
            offset, rtt = await self.control.clock_offset()
            self.out["clock_offset_ms"] = round(offset * 1000, 3)
            self.out["clock_rtt_ms"] = round(rtt * 1000, 3)
            # One host, one clock: only a remote server's offset is worth correcting.
            self.correction_ms = 0.0 if self.local else offset * 1000
            await self.warm_up(bases)
            await self.connect_clients(bases, workdir)
            await self.measure_floor(bases)
            await self.broadcast_and_drain()
        finally:
            await self.cleanup()
        return self.out

    async def start_servers(self) -> list[str]:
        if not self.local:
            return self.options.urls
        env = {
            "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
            "WSBENCH_LAYER": self.options.layer,
            "REDIS_URL": self.options.redis_url,
            "WSBENCH_PREFIX": f"wsbench-{self.run_id}",
            "WSBENCH_TOKEN": self.options.token,
            "WSBENCH_REZNET_WS": json.dumps(self.options.settings),
        }
        self.progress.stage(
            f"{self.target} N={self.n}: starting server", self.options.servers, "server"
        )
        for _ in range(self.options.servers):
            ours = self.target != "baseline"
            server = LocalServer(
                env, self.options.deflate and ours, self.options.reznet_server and ours
            )
            self.servers.append(server)
            await server.start()
            self.progress.update(len(self.servers))
        return [server.url for server in self.servers]

    async def warm_up(self, bases: list[str]) -> None:
        """Two connections per server first, so lazy imports and caches are not counted as RSS."""
        for base in bases:
            for _ in range(2):
                async with websockets.connect(
                    self.endpoint(base, "wsbench-warmup"),
                    compression=None,
                    proxy=None,
                    open_timeout=20,
                ):
                    pass
        await asyncio.sleep(0.5)

    async def memory(self) -> list[int]:
        if self.local:
            return [proc_rss(server.pid) for server in self.servers]
        assert self.control is not None
        return [int((await self.control.server_stats())["rss"])]

    async def cpu(self) -> list[float]:
        if self.local:
            return [proc_cpu_seconds(server.pid) for server in self.servers]
        assert self.control is not None
        return [float((await self.control.server_stats())["cpu"])]

    async def connect_clients(self, bases: list[str], workdir: Path) -> None:
        rss_before = await self.memory()
        procs = self.options.procs_for(self.n)
        shares = [self.n // procs + (1 if i < self.n % procs else 0) for i in range(procs)]
        urls = [self.endpoint(base, self.group) for base in bases]
        offset = 0
        for index, share in enumerate(shares):
            self.loadgens.append(
                await LoadGenProcess.spawn(
                    index, urls, share, offset, self.target != "baseline", self.options, workdir
                )
            )
            offset += share
        self.progress.stage(f"{self.target} N={self.n}: connecting", self.n, "conn")

        def show() -> None:
            self.progress.update(sum(_connect_done(g.state) for g in self.loadgens))

        budget = 60 + self.n * 0.1
        states = await asyncio.gather(
            *(g.read_until("connected", budget, show) for g in self.loadgens)
        )
        self.out["connected"] = sum(s["ok"] for s in states)
        self.out["connect_failures"] = sum(s["failed"] for s in states)
        self.out["connect_errors"] = _merge_counts(s["errors"] for s in states)
        self.out["connect_seconds"] = max(s["seconds"] for s in states)
        self.out["loadgen_processes"] = procs
        await asyncio.sleep(1.0)  # idle: let the server settle before reading its RSS
        rss_after = await self.memory()
        per_process = self.n / len(rss_after) if not self.local else self.n / len(self.servers)
        self.out["rss_before_mb"] = [round(b / 2**20, 2) for b in rss_before]
        self.out["rss_after_mb"] = [round(a / 2**20, 2) for a in rss_after]
        self.out["rss_per_connection_kb"] = round(
            sum(a - b for a, b in zip(rss_after, rss_before, strict=True))
            / len(rss_after)
            / per_process
            / 1024,
            1,
        )
        if not self.local:
            self.out["server_metrics"] = "the process behind the first --url only"

    async def measure_floor(self, bases: list[str]) -> None:
        """Measure the floor of a broadcast on each server's own sockets (benchmarks/floor.py).

        The sum over the servers is the floor of one broadcast, as server CPU is the sum of
        their CPU; each server writes the same prebuilt frame to every socket it holds.
        """
        self.progress.stage(f"{self.target} N={self.n}: floor", len(bases), "server")
        figures = []
        for index, base in enumerate(bases):
            control = await Control.open(base, self.options.token)
            try:
                spec = {"target": self.target, "count": self.options.count, "rounds": 20}
                await control.ask("floor", spec)
                while True:
                    event, data = await control.next_event(120)
                    if event == "floor":
                        figures.append(data)
                        break
            finally:
                await control.close()
            self.progress.update(index + 1)
        self.out["floor"] = figures
        self.out["floor_ms_per_broadcast"] = round(sum(f["ms_per_broadcast"] for f in figures), 3)

    async def broadcast_and_drain(self) -> None:
        assert self.control is not None
        options = self.options
        idle0, idle_t0 = await self.cpu(), time.monotonic()
        await asyncio.sleep(1.0)
        idle1, idle_t1 = await self.cpu(), time.monotonic()
        self.out["server_idle_cpu_pct"] = round(
            100 * (sum(idle1) - sum(idle0)) / (idle_t1 - idle_t0), 1
        )

        for g in self.loadgens:
            await g.command(cmd="start")
        await asyncio.gather(*(g.read_until("started", 30) for g in self.loadgens))
        cpu0, machine0, t0 = await self.cpu(), machine_cpu(), time.monotonic()
        await self.control.ask(
            "start",
            {
                "target": self.target,
                "group": self.group,
                "rate": options.rate,
                "count": options.count,
            },
        )
        done = await self.follow_ticker()
        sent = int(done["sent"])

        self.progress.stage(
            f"{self.target} N={self.n}: draining", sent * self.out["connected"], "msg"
        )

        def show() -> None:
            self.progress.update(
                sum(g.state.get("drain_progress", {}).get("received", 0) for g in self.loadgens)
            )

        for g in self.loadgens:
            await g.command(cmd="finish", expected=sent, drain=options.drain)
        await asyncio.gather(
            *(g.read_until("result", options.drain + 60, show) for g in self.loadgens)
        )
        cpu1, machine1, t1 = await self.cpu(), machine_cpu(), time.monotonic()
        self.progress.close()
        # Errors after this point are expected: clients hang up on a server still sending.
        for server in self.servers:
            errors = server.errors()
            if errors:
                self.out.setdefault("server_errors", []).append(errors)
                self.progress.write(f"the server on port {server.port} logged errors:\n{errors}")
        results = [g.result() for g in self.loadgens]
        self.out.update(summarize(results, done, sent, self.correction_ms))
        wall = t1 - t0
        cpu = sum(cpu1) - sum(cpu0)
        self.out["phase_seconds"] = round(wall, 3)
        self.out["server_cpu_seconds"] = round(cpu, 3)
        self.out["server_cpu_pct"] = round(100 * cpu / wall, 1)
        self.out["server_cpu_per_broadcast_ms"] = round(1000 * cpu / sent, 2)
        floor = self.out.get("floor_ms_per_broadcast")
        self.out["cpu_to_floor"] = round(1000 * cpu / sent / floor, 2) if floor else None
        busy = machine1[0] - machine0[0]
        total = machine1[1] - machine0[1]
        self.out["machine_cpu_pct"] = round(100 * busy / total, 1) if total else None
        self.out["machine_cores"] = os.cpu_count()

    async def follow_ticker(self) -> dict[str, Any]:
        """Show the ticker's progress until ``done``; stop it if it overruns its budget."""
        assert self.control is not None
        count = self.options.count
        self.progress.stage(f"{self.target} N={self.n}: broadcasting", count, "broadcast")
        deadline = time.monotonic() + self.options.duration * 2 + 30
        sent = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                event, data = await self.control.next_event(max(0.1, remaining))
            except TimeoutError:
                await self.control.ask("stop")
                self.progress.write(f"the ticker overran its budget; stopped after {sent}")
                return {"sent": max(sent, 1), "elapsed": None, "lags": [], "stopped": True}
            if event == "started":
                self.out["layer_backend"] = data.get("layer")
                if not self.local:
                    self.out["layer"] = data.get("layer")
            elif event == "progress":
                sent = int(data["sent"])
                self.progress.update(sent)
            elif event == "done":
                self.progress.update(count)
                return data  # type: ignore[no-any-return]

    async def cleanup(self) -> None:
        self.progress.close()
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.close()
        await asyncio.gather(*(g.stop() for g in self.loadgens), return_exceptions=True)
        for server in self.servers:
            await server.stop()


def _connect_done(state: dict[str, Any]) -> int:
    if "connected" in state:
        return int(state["connected"]["ok"] + state["connected"]["failed"])
    return int(state.get("connect_progress", {}).get("done", 0))


def _merge_counts(counts: Iterator[dict[str, int]] | Sequence[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for item in counts:
        for key, value in item.items():
            merged[key] = merged.get(key, 0) + value
    return merged


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Return the nearest-rank percentile ``p`` (0-100) of ascending ``sorted_values``."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def percentile_figures(values: list[float], missing: int = 0) -> dict[str, float | None]:
    """p50/p95/p99/max of ``values`` plus ``missing`` values counted as never arriving."""
    ordered = sorted(values) + [math.inf] * missing
    return {
        key: _finite(percentile(ordered, p))
        for key, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: None stands for "not delivered within the drain time"."""
    return round(value, 2) if math.isfinite(value) else None


def summarize(
    results: list[dict[str, Any]], done: dict[str, Any], sent: int, correction_ms: float = 0.0
) -> dict[str, Any]:
    """Merge the load generators' results into the figures of one run.

    ``correction_ms`` (server clock - load generator clock) is added to every latency.
    """
    if correction_ms:
        for r in results:
            r["latency_ms"] = [x + correction_ms for x in r["latency_ms"]]
    latencies = [x for r in results for x in r["latency_ms"]]
    lags = [float(x) for x in done.get("lags") or []]
    scheduled = [
        lat + 1000.0 * lags[seq] if seq < len(lags) else lat
        for r in results
        for lat, seq in zip(r["latency_ms"], r["seq"], strict=True)
    ]
    unique = [u for r in results for u in r["unique"]]
    raw_payload = [b for r in results for b in r["payload_bytes"]]
    stamps = [b for r in results for b in r["stamp_bytes"]]
    payload = [b - s for b, s in zip(raw_payload, stamps, strict=True)]
    wire = [b for r in results for b in r["wire_bytes"]]
    events = _merge_event_bytes(r["event_bytes"] for r in results)
    lost = sum(max(0, sent - u) for u in unique)
    delivered = sum(min(sent, u) for u in unique)
    lag_sorted = sorted(lags)
    censored = sorted(latencies) + [math.inf] * lost
    return {
        "broadcasts": sent,
        "ticker_stopped": bool(done.get("stopped")),
        "ticker_elapsed_s": done.get("elapsed"),
        "ticker_lag_ms": {
            "p50": _ms(percentile(lag_sorted, 50)),
            "p99": _ms(percentile(lag_sorted, 99)),
            "max": _ms(lag_sorted[-1] if lag_sorted else math.nan),
        },
        "expected_deliveries": sent * len(unique),
        "delivered": delivered,
        "lost": lost,
        "clients_missing_messages": sum(1 for u in unique if u < sent),
        "dropped_connections": sum(r["dropped"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "decode_errors": sum(r["decode_errors"] for r in results),
        "verified_frames": sum(r["verified_frames"] for r in results),
        "verify_mismatches": sum(r["verify_mismatches"] for r in results),
        "latency_ms": percentile_figures(latencies, lost),
        "latency_delivered_ms": percentile_figures(latencies),
        "latency_from_schedule_ms": percentile_figures(scheduled, lost),
        "cdf_ms": [[p, _finite(percentile(censored, p))] for p in CDF_POINTS],
        "payload_bytes_per_client": _spread(payload),
        "wire_bytes_per_client": _spread(wire),
        "payload_bytes_per_message": round(sum(payload) / delivered, 1) if delivered else None,
        "stamp_bytes_per_message": round(sum(stamps) / delivered, 1) if delivered else None,
        "event_bytes": {
            event: round((values[1] - values[2]) / values[0], 1)
            for event, values in sorted(events.items())
        },
        "loadgen": [_loadgen_figures(r) for r in results],
    }


def _ms(seconds: float) -> float | None:
    return _finite(seconds * 1000.0)


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "min": 0.0, "max": 0.0}
    return {"mean": round(sum(values) / len(values), 1), "min": min(values), "max": max(values)}


def _merge_event_bytes(items: Iterator[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Sum the per-event [frames, bytes, stamp bytes] of several load generators."""
    merged: dict[str, list[int]] = {}
    for item in items:
        for event, values in item.items():
            total = merged.setdefault(event, [0] * len(values))
            for i, value in enumerate(values):
                total[i] += value
    return merged


def _loadgen_figures(result: dict[str, Any]) -> dict[str, Any]:
    lags = result["loop_lag_ms"]
    wall = result["wall_seconds"] or math.nan
    return {
        "clients": result["clients"],
        "cpu_pct": round(100 * result["cpu_seconds"] / wall, 1),
        "us_per_message": (
            round(1e6 * result["cpu_seconds"] / len(result["latency_ms"]), 1)
            if result["latency_ms"]
            else None
        ),
        "loop_lag_p99_ms": _finite(percentile(lags, 99)),
        "kernel_timestamps": result.get("kernel_timestamps", False),
        "socket_wait_p99_ms": _finite(percentile(result.get("socket_wait_ms", []), 99)),
        "loop_lag_max_ms": _finite(lags[-1]) if lags else None,
    }


def verdicts(run: dict[str, Any]) -> dict[str, bool]:
    """Flags of one run: did the load generator, the machine and the server keep up."""
    # With kernel receive timestamps a late read no longer shows in the latency: only a load
    # generator short of CPU (falling behind for good) would.
    loadgen_ok = all(
        g["cpu_pct"] < 100 * LOADGEN_CPU_LIMIT
        and (g.get("kernel_timestamps") or (g["loop_lag_p99_ms"] or 0) < LOADGEN_LAG_LIMIT_MS)
        for g in run["loadgen"]
    )
    period_ms = 1000.0 / run["rate"]
    saturated = (
        run["lost"] > 0
        or run["ticker_stopped"]
        or (run["ticker_lag_ms"]["p99"] or 0) > period_ms
        or (run["latency_ms"]["p99"] or math.inf) > 10 * period_ms
    )
    machine_busy = (run["machine_cpu_pct"] or 0) > MACHINE_BUSY_PCT
    return {"loadgen_ok": loadgen_ok, "machine_busy": machine_busy, "saturated": saturated}


# ---------------------------------------------------------------------------- invocation


async def run_bench_async(options: BenchOptions, progress: Progress) -> dict[str, Any]:
    """Run every (target, N) of ``options`` one after the other; return the result document."""
    options.check()
    raise_fd_limit()
    if options.layer != "inmemory" and not options.urls:
        await _check_redis(options.redis_url)
    runs = []
    with tempfile.TemporaryDirectory(prefix="wsbench-") as workdir:
        for n in options.clients:
            for target in options.targets:
                run = await Run(options, target, n, progress).execute(Path(workdir))
                run.update(verdicts(run))
                runs.append(run)
                progress.write(one_line(run))
    return {
        "command": options.command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "options": {k: v for k, v in asdict(options).items() if k not in ("token", "command")},
        "runs": runs,
    }


def run_bench(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Synchronous :func:`run_bench_async`."""
    return asyncio.run(run_bench_async(options, progress or Progress(enabled=False)))


async def _check_redis(url: str) -> None:
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise RuntimeError("the Redis layers need `pip install reznet-ws[redis]`") from None
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        raise RuntimeError(
            f"no Redis at {url} ({exc}); run `bash scripts/ensure-services.sh`"
        ) from None
    finally:
        await client.aclose()
