"""Load and latency benchmark: N WebSocket clients, a fixed broadcast rate, ours against plain.

    python benchmarks/wsbench.py --clients 100,250 --rate 10 --duration 10 --server both
    python manage.py wsbench --quick          # the same, through Django, with a progress bar

For each server kind (``ours``: the ``OptimizedConsumerMixin``, v2 clients; ``baseline``: a plain
Channels ``AsyncJsonWebsocketConsumer``) and each N, a run:

1. starts a fresh daphne process (two with ``--servers 2``) on 127.0.0.1 serving
   ``benchmarks/bench_app.py``, or targets ``--url``;
2. measures the server's RSS, connects N clients from separate load-generator processes
   (``benchmarks/loadgen.py``) and measures the RSS again, idle;
3. asks the ticker inside the server to broadcast ``rate * duration`` trace events to the group,
   each stamped with its send time, and reads the server's CPU time from /proc around it;
4. waits up to ``--drain`` seconds for every client to hold every event, then collects latencies
   (receipt - send time), losses, bytes, and the load generators' own CPU and loop lag.

Results go to ``--out`` (JSON), the same name with ``.md`` (a markdown table) and a plot at
``docs/img/bench-<name>.svg``. ``--report A.json B.json --md F.md`` rebuilds one markdown page
from several result files. Everything is bounded: a run gives up after its time budget, clients
and servers are stopped in every case, and nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import platform
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import websockets  # noqa: E402

__all__ = ["BenchOptions", "Progress", "main", "run_bench", "write_outputs", "write_report"]

RESULTS = REPO / "benchmarks" / "results"
IMAGES = REPO / "docs" / "img"
LAYERS = ("inmemory", "redis", "redis-pubsub")
#: Server kinds: plain Channels; ours joined through the process hub (``join_group``, the fast
#: path); ours joined with ``channel_layer.group_add`` (every recipient dispatched by Channels).
TARGETS = ("baseline", "ours", "ours-group-add")
SERVER_CHOICES = {
    "both": ["baseline", "ours"],
    "all": list(TARGETS),
    **{target: [target] for target in TARGETS},
}
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: Percentiles kept in the JSON for plots (the raw latencies are not kept).
CDF_POINTS = (
    *range(0, 90, 5),
    *(90 + i * 0.5 for i in range(18)),
    99.0,
    99.5,
    99.9,
    100.0,
)
#: A load generator above this share of one core, or with a loop lag p99 above this, is suspect.
LOADGEN_CPU_LIMIT = 0.8
LOADGEN_LAG_LIMIT_MS = 10.0
#: Above this share of all cores busy (including steal) the machine, not the code, may limit a run.
MACHINE_BUSY_PCT = 90.0


@dataclass
class BenchOptions:
    """What one invocation runs: every N in ``clients`` for every server kind in ``targets``."""

    clients: list[int] = field(default_factory=lambda: [1000])
    rate: float = 10.0
    duration: float = 10.0
    layer: str = "inmemory"
    servers: int = 1
    targets: list[str] = field(default_factory=lambda: ["baseline", "ours"])
    urls: list[str] = field(default_factory=list)
    procs: int = 0  # 0: one load generator per 250 clients, at most 2 (this machine has 2 cores)
    drain: float = 10.0
    deflate: bool = False
    reznet_server: bool = False
    client: str = "raw"
    concurrency: int = 50
    redis_url: str = field(
        default_factory=lambda: os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    )
    token: str = ""
    command: str = ""

    def check(self) -> None:
        """Raise ValueError for options that cannot run (or would not stop)."""
        if self.layer not in LAYERS:
            raise ValueError(f"--layer must be one of {', '.join(LAYERS)}")
        if not self.clients or any(not 0 < n <= 20_000 for n in self.clients):
            raise ValueError("--clients must be in 1..20000")
        if not 0 < self.rate <= 1000 or not 0 < self.duration <= 600:
            raise ValueError("--rate must be in (0, 1000] and --duration in (0, 600]")
        if self.rate * self.duration < 1 or self.rate * self.duration > 100_000:
            raise ValueError("--rate x --duration must give 1..100000 broadcasts")
        if self.servers not in (1, 2):
            raise ValueError("--servers must be 1 or 2")
        if self.servers == 2 and self.layer == "inmemory" and not self.urls:
            raise ValueError("--servers 2 needs a Redis layer (--layer redis or redis-pubsub)")
        if any(t not in TARGETS for t in self.targets):
            raise ValueError(f"--server must be one of {', '.join(SERVER_CHOICES)}")
        if not 0 < self.drain <= 300:
            raise ValueError("--drain must be in (0, 300]")

    @property
    def count(self) -> int:
        return max(1, round(self.rate * self.duration))

    def procs_for(self, n: int) -> int:
        return self.procs or min(2, max(1, math.ceil(n / 250)))


# -------------------------------------------------------------------------------- progress


class Progress:
    """A progress bar on stderr: tqdm's when installed, a plain one otherwise."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._bar: Any = None
        self._label = ""
        self._total = 0.0
        self._shown = 0.0
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm

    def stage(self, label: str, total: float, unit: str = "it") -> None:
        """Start a new bar (closing the previous one)."""
        self.close()
        self._label, self._total, self._shown = label, total, 0.0
        if self.enabled and self._tqdm is not None:
            self._bar = self._tqdm(
                unit=unit,
                mininterval=0.5,
                total=total,
                desc=label,
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, done: float) -> None:
        """Show ``done`` out of the stage's total."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.n = min(done, self._total)
            self._bar.refresh()
        elif time.monotonic() - self._shown > 0.2 or done >= self._total:
            self._shown = time.monotonic()
            share = done / self._total if self._total else 1.0
            filled = int(30 * min(1.0, share))
            self.stream.write(
                f"\r{self._label}: [{'#' * filled}{'.' * (30 - filled)}] "
                f"{done:g}/{self._total:g}   "
            )
            self.stream.flush()

    def write(self, line: str) -> None:
        """Print a line of text without breaking the bar."""
        if self._bar is not None:
            self._tqdm.write(line, file=self.stream)
        else:
            self.stream.write(("\n" if self._label and self.enabled else "") + line + "\n")
            self._label = ""

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._label and self.enabled:
            self.stream.write("\n")
        self._label = ""


# -------------------------------------------------------------------------- process metrics


def proc_cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_rss(pid: int) -> int:
    """Return the resident set size of process ``pid`` in bytes, from /proc."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def machine_cpu() -> tuple[float, float]:
    """Return (busy, total) jiffies of all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    """Let this process and its children open a socket per client (soft limit up to hard)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ----------------------------------------------------------------------------- processes


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO) + (os.pathsep + path if path else ""),
        **extra,
    }


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when the orchestrator dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalServer:
    """A daphne process on 127.0.0.1 serving the bench app.

    ``reznet``: reznet-daphne (direct socket writes) instead of daphne; ``deflate`` implies it.
    """

    def __init__(self, env: dict[str, str], deflate: bool, reznet: bool = False) -> None:
        self.port = free_port()
        self.env = env
        self.deflate = deflate
        self.reznet = reznet or deflate
        self.proc: asyncio.subprocess.Process | None = None
        self.log = tempfile.NamedTemporaryFile(
            prefix="wsbench-server-", suffix=".log", delete=False
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 30.0) -> None:
        module = "reznet_ws.server.cli" if self.reznet else "daphne"
        deflate = ["--permessage-deflate"] if self.deflate else []
        if self.reznet and not self.deflate:
            deflate = ["--no-permessage-deflate"]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "-v",
            "0",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            *deflate,
            "benchmarks.bench_app:application",
            stdout=self.log,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=REPO,
            env=_child_env(self.env),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"the server exited early:\n{self.output()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError(f"the server did not listen on {self.port}:\n{self.output()}")

    def output(self) -> str:
        with open(self.log.name, errors="replace") as f:
            return f.read()[-4000:]

    def errors(self) -> str | None:
        """Return the end of the server's log when it logged an error so far, else None."""
        output = self.output()
        return output if "Traceback" in output or "ERROR" in output else None

    async def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s) and remove its log."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.log.close()
        if os.environ.get("WSBENCH_KEEP_LOGS"):
            print(f"server log kept: {self.log.name}", file=sys.stderr)
            return
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


class LoadGenProcess:
    """One ``benchmarks/loadgen.py`` process and its JSON-lines conversation."""

    def __init__(self, index: int, proc: asyncio.subprocess.Process, result: Path) -> None:
        self.index = index
        self.proc = proc
        self.result_path = result
        self.state: dict[str, Any] = {}

    @classmethod
    async def spawn(
        cls,
        index: int,
        urls: list[str],
        clients: int,
        offset: int,
        v2: bool,
        options: BenchOptions,
        workdir: Path,
    ) -> LoadGenProcess:
        result = workdir / f"loadgen-{index}.json"
        argv = [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            "--clients",
            str(clients),
            "--offset",
            str(offset),
            "--result",
            str(result),
            "--concurrency",
            str(options.concurrency),
        ]
        for url in urls:
            argv += ["--url", url]
        argv += ["--v2"] if v2 else []
        argv += ["--deflate"] if options.deflate else []
        argv += ["--client", options.client]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
            env=_child_env({}),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return cls(index, proc, result)

    async def read_until(self, kind: str, timeout: float, on_line: Any = None) -> dict[str, Any]:
        """Read lines until one of type ``kind`` (calling ``on_line`` with each one)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"load generator {self.index}: no {kind!r} in {timeout:.0f}s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"load generator {self.index} exited before {kind!r}")
            message = json.loads(line)
            self.state[message["type"]] = message
            if on_line is not None:
                on_line()
            if message["type"] == kind:
                return message

    async def command(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    def result(self) -> dict[str, Any]:
        return json.loads(self.result_path.read_text())  # type: ignore[no-any-return]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(OSError, ConnectionError):
                await self.command(cmd="quit")
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()


# ---------------------------------------------------------------------------------- a run


class Control:
    """The orchestrator's socket to the server-side ticker (``ws/bench/control/``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base: str, token: str) -> Control:
        url = base.rstrip("/") + "/ws/bench/control/" + (f"?token={quote(token)}" if token else "")
        try:
            ws = await websockets.connect(
                url,
                compression=None,
                max_size=None,
                proxy=None,
                ping_interval=None,
                open_timeout=20,
            )
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise RuntimeError(
                f"cannot open the control socket {base.rstrip('/')}/ws/bench/control/: {exc} "
                "(are bench_app's routes mounted there? is --token right?)"
            ) from None
        return cls(ws)

    async def ask(self, event: str, data: Any = None) -> None:
        await self.ws.send(json.dumps({"event": event, "data": data}))

    async def next_event(self, timeout: float) -> tuple[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if message.get("event") == "error":
            raise RuntimeError(f"the control socket answered an error: {message.get('data')}")
        return message["event"], message.get("data")

    async def clock_offset(self, samples: int = 10) -> tuple[float, float]:
        """Return (server clock - local clock, round trip) in seconds, from the fastest ping."""
        best = (0.0, math.inf)
        for _ in range(samples):
            before = time.time()
            await self.ask("clock")
            event, data = await self.next_event(10)
            after = time.time()
            if event == "clock" and after - before < best[1]:
                best = (float(data["time"]) - (before + after) / 2, after - before)
        return best

    async def server_stats(self) -> dict[str, Any]:
        await self.ask("server_stats")
        while True:
            event, data = await self.next_event(10)
            if event == "server_stats":
                return data  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()


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


# ------------------------------------------------------------------------------- summary


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


def _stats(values: list[float], missing: int = 0) -> dict[str, float | None]:
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
        "latency_ms": _stats(latencies, lost),
        "latency_delivered_ms": _stats(latencies),
        "latency_from_schedule_ms": _stats(scheduled, lost),
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


def one_line(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    return (
        f"{run['target']:8} N={run['clients']:<5} {run['layer']:12} "
        f"p50={_fmt_ms(lat['p50'])} p95={_fmt_ms(lat['p95'])} p99={_fmt_ms(lat['p99'])} "
        f"lost={run['lost']} failed={run['connect_failures']} "
        f"cpu/broadcast={run['server_cpu_per_broadcast_ms']}ms "
        f"rss/conn={run['rss_per_connection_kb']}KB"
        + ("  [saturated]" if run["saturated"] else "")
        + ("" if run["loadgen_ok"] else "  [load generator lagging]")
        + (f"  [machine busy: {run['machine_cpu_pct']:.0f} %]" if run["machine_busy"] else "")
    )


# ------------------------------------------------------------------------------ outputs


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "undelivered"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _fmt_kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f} kB"


def markdown_table(doc: dict[str, Any]) -> str:
    """Return the markdown tables of one result document: latency, then resources."""
    latency = [
        "| server | layer | servers | N | conn. failed | lost | p50 | p95 | p99 | max "
        "| p99 from schedule |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    resources = [
        "| server | N | bytes/msg | kB/client | server CPU/broadcast | server CPU | RSS/conn "
        "| load gen CPU, lag p99 | machine CPU | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        lat, sched = r["latency_ms"], r["latency_from_schedule_ms"]
        name = f"{r['target']}{' (saturated)' if r['saturated'] else ''}"
        latency.append(
            f"| {name} | {r['layer']} | {r['servers']} | {r['clients']} "
            f"| {r['connect_failures']} | {r['lost']} of {r['expected_deliveries']} "
            f"| {_fmt_ms(lat['p50'])} | {_fmt_ms(lat['p95'])} | {_fmt_ms(lat['p99'])} "
            f"| {_fmt_ms(lat['max'])} | {_fmt_ms(sched['p99'])} |"
        )
        gens = ", ".join(
            f"{g['cpu_pct']:.0f} % / {g['loop_lag_p99_ms'] or 0:.1f} ms" for g in r["loadgen"]
        )
        resources.append(
            f"| {r['target']} | {r['clients']} | {r['payload_bytes_per_message'] or 0:.0f} "
            f"| {_fmt_kb(r['payload_bytes_per_client']['mean'])} "
            f"| {r['server_cpu_per_broadcast_ms']:.0f} ms | {r['server_cpu_pct']:.0f} % "
            f"| {r['rss_per_connection_kb']:.0f} kB | {gens} "
            f"| {r['machine_cpu_pct'] or 0:.0f} % | {r['load_average'][0]:.2f} |"
        )
    return "\n".join(latency) + "\n\n" + "\n".join(resources) + "\n"


def markdown_section(doc: dict[str, Any], plot: str | None, title: str) -> str:
    """Return a markdown section: the command, the table, the plot, what the columns mean."""
    opts = doc["options"]
    lines = [
        f"### {title}",
        "",
        f"{doc['created']}, {doc['machine']['cores']} cores, Python {doc['machine']['python']}; "
        f"{opts['rate']:g} broadcasts/s for {opts['duration']:g} s, drain {opts['drain']:g} s"
        f"{', permessage-deflate' if opts['deflate'] else ''}"
        f"{', ours on reznet-daphne' if opts.get('reznet_server') else ''}"
        f"; load-generator client: {opts.get('client', 'websockets')}.",
        "",
        "```",
        doc["command"] or "(command not recorded)",
        "```",
        "",
        *([doc["note"], ""] if doc.get("note") else []),
        markdown_table(doc),
    ]
    bytes_rows = _bytes_rows(doc)
    if bytes_rows:
        lines += ["", bytes_rows]
    if plot:
        lines += ["", f"![latency distribution and bytes per message]({plot})"]
    return "\n".join(lines) + "\n"


def _bytes_rows(doc: dict[str, Any]) -> str:
    by_target = _bytes_by_target(doc)
    if len(by_target) < 2:
        return ""
    base = by_target.get("baseline", {})
    ours = next((by_target[t] for t in TARGETS[1:] if t in by_target), {})
    rows = ["| event | baseline bytes | ours bytes | saved |", "|---|---|---|---|"]
    for event in sorted(set(ours) & set(base)):
        saved = 100 * (1 - ours[event] / base[event]) if base[event] else 0
        name = "all events" if event == "(all)" else event
        rows.append(f"| {name} | {base[event]:.0f} | {ours[event]:.0f} | {saved:.0f} % |")
    return "\n".join(rows)


def _bytes_by_target(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean payload bytes per event type for each server kind (from its first run)."""
    out: dict[str, dict[str, float]] = {}
    for run in doc["runs"]:
        if run["target"] not in out and run["event_bytes"]:
            out[run["target"]] = dict(run["event_bytes"])
            if run["payload_bytes_per_message"]:
                out[run["target"]]["(all)"] = run["payload_bytes_per_message"]
    return out


_TARGET_COLORS = {"baseline": "#7f7f7f", "ours": "#1f77b4", "ours-group-add": "#ff7f0e"}
_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def svg_plot(doc: dict[str, Any]) -> str:
    """Return an SVG: latency by percentile per run, and bytes per message per event type."""
    width, height = 1000, 400 + 14 * math.ceil(len(doc["runs"]) / 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    parts += _svg_latency(doc, x0=70, y0=50, w=440, h=290)
    parts += _svg_bars(doc, x0=600, y0=50, w=380, h=290)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _nines(p: float) -> float:
    """Position of percentile ``p`` on a "nines" axis: 0 -> 0, 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return 3.3 if p >= 100 else min(3.0, -math.log10(1 - p / 100))


def _svg_latency(doc: dict[str, Any], x0: int, y0: int, w: int, h: int) -> list[str]:
    """Latency (log scale) against percentile (nines scale), one line per run."""
    values = [v for r in doc["runs"] for _, v in r["cdf_ms"] if v]
    lo = 10 ** math.floor(math.log10(max(0.1, min(values, default=1))))
    hi = max(10 ** math.ceil(math.log10(max(values, default=10) * 1.01)), lo * 10)
    span = math.log10(hi) - math.log10(lo)

    def x(p: float) -> float:
        return x0 + w * _nines(p) / 3.3

    def y(v: float) -> float:
        return y0 + h - h * (math.log10(max(v, lo)) - math.log10(lo)) / span

    out = [
        f'<text x="{x0}" y="{y0 - 30}" font-size="13">Delivery latency by percentile '
        f"(a line that stops: the rest was not delivered)</text>",
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
    ]
    for p, label in ((0, "0 %"), (50, "50 %"), (90, "90 %"), (99, "99 %"), (99.9, "99.9 %"),
                     (100, "max")):  # fmt: skip
        out.append(
            f'<line x1="{x(p):.1f}" y1="{y0}" x2="{x(p):.1f}" y2="{y0 + h}" stroke="#eee"/>'
            f'<text x="{x(p):.1f}" y="{y0 + h + 14}" text-anchor="middle">{label}</text>'
        )
    decade = lo
    while decade <= hi * 1.0001:
        out.append(
            f'<line x1="{x0}" y1="{y(decade):.1f}" x2="{x0 + w}" y2="{y(decade):.1f}" '
            f'stroke="#eee"/><text x="{x0 - 4}" y="{y(decade) + 4:.1f}" '
            f'text-anchor="end">{_fmt_axis(decade)}</text>'
        )
        decade *= 10
    for i, run in enumerate(doc["runs"]):
        color = _COLORS[i % len(_COLORS)]
        points = [f"{x(p):.1f},{y(v):.1f}" for p, v in run["cdf_ms"] if v]
        if points:
            out.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                f'points="{" ".join(points)}"/>'
            )
        label = f"{run['target']} N={run['clients']} {run['layer']}"
        if run["servers"] > 1:
            label += f" x{run['servers']}"
        lx = x0 + (i % 2) * (w // 2)
        ly = y0 + h + 34 + 14 * (i // 2)
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="2"/><text x="{lx + 20}" y="{ly}">{label}</text>'
        )
    return out


def _fmt_axis(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _svg_bars(doc: dict[str, Any], x0: int, y0: int, w: int, h: int) -> list[str]:
    """Bytes per message per event type; relative to the baseline when both ran."""
    by_target = _bytes_by_target(doc)
    targets = sorted(by_target)
    events = sorted({e for sizes in by_target.values() for e in sizes})
    base = by_target.get("baseline") if len(targets) > 1 else None
    title = "relative to plain Channels; labels in bytes" if base else "bytes"
    out = [
        f'<text x="{x0}" y="{y0 - 30}" font-size="13">Payload per message ({title})</text>',
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
    ]
    if not events:
        return out
    top = 100.0 if base else max(v for sizes in by_target.values() for v in sizes.values())
    slot = w / len(events)
    bar = slot * 0.8 / len(targets)
    for j, target in enumerate(targets):
        color = _TARGET_COLORS.get(target, "#1f77b4")
        out.append(
            f'<rect x="{x0 + 90 * j}" y="{y0 - 22}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x0 + 14 + 90 * j}" y="{y0 - 13}">{target}</text>'
        )
        for i, event in enumerate(events):
            value = by_target[target].get(event)
            if not value:
                continue
            shown = 100.0 * value / base[event] if base and base.get(event) else value
            bh = h * 0.9 * min(shown, top) / top
            bx = x0 + slot * i + slot * 0.1 + bar * j
            out.append(
                f'<rect x="{bx:.1f}" y="{y0 + h - bh:.1f}" width="{bar:.1f}" '
                f'height="{bh:.1f}" fill="{color}"/><text x="{bx + bar / 2:.1f}" '
                f'y="{y0 + h - bh - 3:.1f}" text-anchor="middle" font-size="9">{value:.0f}</text>'
            )
    for i, event in enumerate(events):
        cx = x0 + slot * (i + 0.5)
        words = ["all", "events"] if event == "(all)" else event.split("_", 1)
        lines = "".join(
            f'<tspan x="{cx:.1f}" dy="{0 if k == 0 else 11}">{word}</tspan>'
            for k, word in enumerate(words)
        )
        out.append(f'<text y="{y0 + h + 14}" text-anchor="middle" font-size="9">{lines}</text>')
    return out


def write_outputs(doc: dict[str, Any], out: Path, plot_dir: Path | None = None) -> dict[str, Path]:
    """Write ``out`` (JSON), ``out`` with ``.md`` and the plot ``bench-<stem>.svg``.

    The plot goes to docs/img/ for results inside this repository, next to ``out`` otherwise.
    """
    out = out.resolve()
    if plot_dir is None:
        plot_dir = IMAGES if out.is_relative_to(REPO) else out.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_dir / f"bench-{out.stem}.svg"
    doc["plot"] = str(plot.relative_to(REPO)) if plot.is_relative_to(REPO) else str(plot)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    plot.write_text(svg_plot(doc))
    md = out.with_suffix(".md")
    section = markdown_section(doc, os.path.relpath(plot, md.parent), out.stem)
    md.write_text(section + "\n" + COLUMNS)
    return {"json": out, "markdown": md, "plot": plot}


COLUMNS = """\
Columns: *lost* counts (client, broadcast) deliveries that had not arrived when the drain time ran
out; latencies are `time.time()` when the frame's bytes reached the client minus `time.time()`
just before the server's broadcast call, over every (client, broadcast) pair, undelivered pairs
counted as infinitely late (shown as "undelivered"); *p99 from schedule* adds the ticker's own
lateness, so a saturated server cannot hide behind its late sends; *bytes/msg* is the WebSocket
payload per delivered event without the benchmark's two stamp fields (`bench_seq`, `bench_t`:
about 45 bytes, the same for both servers); *kB/client* the same payload summed per client;
*server CPU/broadcast* is the server processes' user + system time (/proc) from the first
broadcast to the end of the drain, divided by the broadcasts (a lower bound when saturated);
*server CPU* the same as a share of one core (above 100 % when Channels' thread pool runs beside
the event loop); *RSS/conn* is the RSS growth of the idle server from before to after connecting
the N clients, divided by N; *load gen CPU, lag p99* is each load-generator process's share of one
core and the p99 lateness of a 10 ms timer in its event loop over the same phase (the load
generator keeps up while both stay low); *machine CPU* is the busy share of all cores
(/proc/stat, steal included) over that phase, everything on the machine counted: near 100 % the
figures measure the machine, not the code; *load avg* is the 1-minute load average when the run
started.
"""


def write_report(paths: list[Path], md: Path, title: str, notes: str | None = None) -> Path:
    """Write one markdown section: a summary, then a subsection per result file.

    The page is included in docs/benchmarks.md (``benchmarks/report.py``), so its headings start
    at ``##`` and its image links are relative to docs/.
    """
    docs = [json.loads(path.read_text()) for path in paths]
    sections = [f"## {title}\n"]
    if notes:
        sections.append(notes.strip() + "\n")
    sections.append(summary_section(docs, [path.stem for path in paths]))
    for path, doc in zip(paths, docs, strict=True):
        plot = doc.get("plot")
        rel = os.path.relpath(REPO / plot, REPO / "docs") if plot else None
        sections.append(markdown_section(doc, rel, path.stem))
    sections.append(COLUMNS)
    md.write_text("\n".join(sections))
    return md


def summary_section(docs: list[dict[str, Any]], names: list[str] | None = None) -> str:
    """Return a table of every server kind at every N under the first file's conditions."""
    lines = []
    first = docs[0]["runs"][0] if docs and docs[0]["runs"] else None
    if first is not None:
        key = (first["layer"], first["servers"], first["rate"], first["duration"])
        picked: dict[tuple[int, str], dict[str, Any]] = {}
        for doc in docs:
            for r in doc["runs"]:
                if (r["layer"], r["servers"], r["rate"], r["duration"]) == key:
                    picked.setdefault((r["clients"], r["target"]), r)
        if len({target for _, target in picked}) > 1:
            lines += [
                f"### Summary ({first['layer']} layer, {first['servers']} server "
                f"process{'es' if first['servers'] > 1 else ''}, {first['rate']:g} broadcasts/s "
                f"for {first['duration']:g} s)",
                "",
                "| N | server | p50 / p95 / p99 | lost | CPU per broadcast | RSS per connection "
                "| kB per client |",
                "|---|---|---|---|---|---|---|",
            ]
            order = {target: i for i, target in enumerate(TARGETS)}
            for (n, target), r in sorted(picked.items(), key=lambda i: (i[0][0], order[i[0][1]])):
                lines.append(
                    f"| {n:,} | {target} | {_triple(r)} | {_lost_pct(r)} | {_cpu(r)} ms "
                    f"| {r['rss_per_connection_kb']:.0f} kB "
                    f"| {_fmt_kb(r['payload_bytes_per_client']['mean'])} |"
                )
            lines += [
                "",
                "*ours*: `join_group()`, the process hub; *ours-group-add*: the same consumer "
                "joined with `channel_layer.group_add`, every recipient dispatched by Channels; "
                "*saturated*: the server fell behind, CPU per broadcast is then a lower bound (≥).",
                "",
            ]
    lines.append(loadgen_check(docs, names))
    return "\n".join(lines) + "\n"


def _triple(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    text = " / ".join(_fmt_ms(lat[k]) for k in ("p50", "p95", "p99"))
    return text + (" (*saturated*)" if run["saturated"] else "")


def _lost_pct(run: dict[str, Any]) -> str:
    if not run["lost"]:
        return "0"
    return f"{100 * run['lost'] / run['expected_deliveries']:.0f} %"


def _cpu(run: dict[str, Any]) -> str:
    return ("≥ " if run["saturated"] else "") + f"{run['server_cpu_per_broadcast_ms']:.0f}"


def loadgen_check(docs: list[dict[str, Any]], names: list[str] | None = None) -> str:
    """Return one paragraph: what the load generators cost and whether any run was flagged."""
    names = names or [f"#{i + 1}" for i in range(len(docs))]
    runs = [{**r, "file": name} for d, name in zip(docs, names, strict=True) for r in d["runs"]]
    gens = [g for r in runs for g in r["loadgen"]]
    if not gens:
        return ""
    costs = [g["us_per_message"] for g in gens if g.get("us_per_message")]
    flagged = [r for r in runs if not r["loadgen_ok"] or r["machine_busy"]]
    text = (
        f"**Load generator check** over these {len(runs)} runs: each load-generator process used "
        f"at most {max(g['cpu_pct'] for g in gens):.0f} % of a core"
        + (f" ({min(costs):.0f}-{max(costs):.0f} µs of CPU per message)" if costs else "")
        + f", with an event-loop lag p99 of at most "
        f"{max(g['loop_lag_p99_ms'] or 0 for g in gens):.1f} ms; the machine was at most "
        f"{max(r['machine_cpu_pct'] or 0 for r in runs):.0f} % busy."
    )
    if flagged:
        listed = ", ".join(f"{r['file']} {r['target']} N={r['clients']}" for r in flagged)
        text += (
            f" Flagged (load generator lagging or machine busy, see the tables): {listed}; "
            "their figures are upper bounds."
        )
    return text + "\n"


#: The runs of ``--suite`` (``make bench``): name, then the options that differ from the defaults.
SUITE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("load-inmemory", {"targets": list(TARGETS), "clients": [100, 250, 500, 1000]}),
    ("load-isolated", {"targets": list(TARGETS), "clients": [1000], "rate": 1.0, "duration": 1.0}),
    ("load-redis", {"layer": "redis", "clients": [250, 1000]}),
    ("load-redis-pubsub", {"layer": "redis-pubsub", "clients": [250, 1000]}),
    ("load-redis-pubsub-2srv", {"layer": "redis-pubsub", "servers": 2, "clients": [2000]}),
    ("load-loadgen-procs1", {"targets": ["ours"], "clients": [1000], "procs": 1}),
    ("load-loadgen-wsclient", {"targets": ["ours"], "clients": [250], "client": "websockets"}),
)
NOTES = RESULTS / "load-notes.md"


def run_suite(options: BenchOptions, progress: Progress, stdout: TextIO) -> Path:
    """Run every entry of :data:`SUITE`, then write benchmarks/results/load.md."""
    paths = []
    for name, overrides in SUITE:
        suite_options = dataclasses.replace(options, **overrides)
        suite_options.command = _cli_for(name, overrides) + "  # part of --suite"
        suite_options.check()
        doc = run_bench(suite_options, progress)
        paths.append(write_outputs(doc, RESULTS / f"{name}.json")["json"])
        stdout.write(f"wrote {paths[-1]}\n")
    notes = NOTES.read_text() if NOTES.exists() else None
    return write_report(paths, RESULTS / "load.md", REPORT_TITLE, notes)


REPORT_TITLE = "Load and latency: reznet_ws against plain Channels"


def _cli_for(name: str, overrides: dict[str, Any]) -> str:
    """Return the stand-alone command equivalent to one :data:`SUITE` entry."""
    argv = ["python", "benchmarks/wsbench.py"]
    for key, value in overrides.items():
        if key == "clients":
            argv += ["--clients", ",".join(str(n) for n in value)]
        elif key == "targets":
            argv += ["--server", next(k for k, v in SERVER_CHOICES.items() if v == list(value))]
        else:
            argv += [f"--{key}", f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join([*argv, "--out", f"benchmarks/results/{name}.json"])


# -------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by this script and ``manage.py wsbench``."""
    parser.add_argument(
        "--clients",
        default="1000",
        help="connections; a comma-separated list runs each (default 1000)",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="broadcasts per second (10)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of broadcasting per run (10)"
    )
    parser.add_argument("--layer", choices=LAYERS, default="inmemory")
    parser.add_argument(
        "--servers",
        type=int,
        choices=(1, 2),
        default=1,
        help="daphne processes (2 needs a Redis layer)",
    )
    parser.add_argument(
        "--server",
        choices=list(SERVER_CHOICES),
        default="both",
        help="both: baseline and ours (hub); all: also ours-group-add",
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="target this running server instead of starting one (base URL "
        "where bench_app's routes are mounted; repeat for several)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WSBENCH_TOKEN", ""),
        help="the control socket's token ($WSBENCH_TOKEN)",
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=0,
        help="load-generator processes (default: 1 per 250 clients, max 2)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="seconds to wait for late deliveries after the last broadcast",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="serve ours with reznet-daphne and permessage-deflate",
    )
    parser.add_argument(
        "--reznet-server",
        action="store_true",
        help="serve ours with reznet-daphne (direct socket writes), baseline with daphne",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="load-generator client: the built-in minimal one or the websockets library's",
    )
    parser.add_argument(
        "--out", default=None, help="result JSON (default benchmarks/results/load-<layer>.json)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run: 50 clients, 3 s, both servers"
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--report",
        nargs="+",
        type=Path,
        default=None,
        metavar="JSON",
        help="only write --md from these result files",
    )
    parser.add_argument("--md", type=Path, default=RESULTS / "load.md")
    parser.add_argument("--title", default=REPORT_TITLE)
    parser.add_argument(
        "--notes",
        type=Path,
        default=NOTES if NOTES.exists() else None,
        help="markdown put under the title of --report (default benchmarks/results/load-notes.md)",
    )
    parser.add_argument(
        "--suite",
        action="store_true",
        help="run the standard set (make bench), about 15 min, and write "
        "benchmarks/results/load.md",
    )


def options_from(args: argparse.Namespace, command: str) -> BenchOptions:
    """Build :class:`BenchOptions` from parsed arguments (``--quick`` overrides)."""
    clients = [int(n) for n in str(args.clients).split(",") if n.strip()]
    duration, drain = args.duration, args.drain
    if args.quick:
        clients, duration, drain = [50], 3.0, 5.0
    return BenchOptions(
        clients=clients,
        rate=args.rate,
        duration=duration,
        layer=args.layer,
        servers=args.servers,
        targets=SERVER_CHOICES[args.server],
        urls=list(args.url),
        procs=args.procs,
        drain=drain,
        deflate=args.deflate,
        reznet_server=args.reznet_server,
        client=args.client,
        token=args.token,
        command=command,
    )


def default_out(options: BenchOptions, quick: bool = False) -> Path:
    if quick:
        return RESULTS / "load-quick.json"
    suffix = f"-{options.servers}srv" if options.servers > 1 else ""
    return RESULTS / f"load-{options.layer}{suffix}.json"


def execute(args: argparse.Namespace, command: str, stdout: TextIO) -> int:
    """Run what ``args`` ask for; return an exit status.

    Raises ValueError for options that cannot run, RuntimeError when a server or Redis fails.
    """
    if args.report:
        notes = args.notes.read_text() if args.notes else None
        stdout.write(f"wrote {write_report(args.report, args.md, args.title, notes)}\n")
        return 0
    options = options_from(args, command)
    options.check()
    progress = Progress(enabled=not args.no_progress)
    if args.suite:
        stdout.write(f"wrote {run_suite(options, progress, stdout)}\n")
        return 0
    doc = run_bench(options, progress)
    paths = write_outputs(doc, Path(args.out) if args.out else default_out(options, args.quick))
    stdout.write(markdown_table(doc))
    stdout.write("".join(f"wrote {p}\n" for p in paths.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/wsbench.py", *argv])
    args = parser.parse_args(argv)
    try:
        return execute(args, command, sys.stdout)
    except (ValueError, RuntimeError) as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
