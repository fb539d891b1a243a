"""The processes of a run: daphne servers, load generators, the control socket, /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

from benchmarks.wsbench.options import REPO, BenchOptions

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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
