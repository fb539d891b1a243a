"""A real ``redis-server`` process of a test's own, on a free port of 127.0.0.1.

Fault tests use it to stop, kill, pause (SIGSTOP), resume and restart Redis under a running
system. Every method returns once the process is in the state it names: ``start()``,
``resume()`` and ``restart()`` synchronise on PING, ``stop()`` and ``kill()`` on the exit of the
process, ``pause()`` on the kernel reporting it stopped. Their timeouts only bound a hang (a busy
machine may take long), they never decide an outcome. Use the ``redis_server`` /
``make_redis_server`` fixtures of tests/conftest.py, which stop every server at teardown.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from tests.conftest import free_port

__all__ = ["RedisServer", "redis_server_available"]

_DUMP = "dump.rdb"
_PORT_ATTEMPTS = 5  # free_port() can race with another process; a first start retries
#: Seconds any one step may take before the helper gives up: a bound on a hang only.
TIMEOUT = 60.0


def redis_server_available(binary: str = "redis-server") -> bool:
    """Return whether the ``redis-server`` binary is on PATH."""
    return shutil.which(binary) is not None


class ServerExited(RuntimeError):
    """The redis-server process exited while the helper waited for it to answer."""


class RedisServer:
    """One redis-server on 127.0.0.1:``port`` with its files in ``directory``.

    By default nothing persists (``--save "" --appendonly no``): ``stop()`` then ``start()``
    comes back empty, and ``restart(keep_data=True)`` is the way to keep the data (an explicit
    ``SAVE`` to ``dump.rdb`` in ``directory``, loaded by the new process). ``appendonly=True``
    keeps every write across any stop, as a production Redis with ``appendfsync always`` would.
    """

    def __init__(
        self,
        directory: Path,
        *,
        appendonly: bool = False,
        binary: str = "redis-server",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(directory)
        self.appendonly = appendonly
        self.binary = binary
        self.extra_args = extra_args
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._log_path = self.directory / f"redis-{id(self):x}.log"

    # ------------------------------------------------------------------ state

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``; the port stays the same across restarts."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process exists (it may be paused)."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the running server."""
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    def client(self, **kwargs: Any) -> redis.Redis:
        """Return a new synchronous client of this server (the caller closes it)."""
        return redis.Redis.from_url(self.url, **kwargs)

    def output(self) -> str:
        """Return what redis-server logged so far (for failure messages)."""
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def unread_bytes(self) -> int | None:
        """Return the bytes clients sent that the server has not read yet (None without /proc).

        A paused server leaves the commands sent to it in its sockets' receive queues: a test
        waits on this to know that a command reached it (Linux's ``/proc/net/tcp``).
        """
        try:
            rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
        except OSError:
            return None
        port, unread = f":{self.port:04X}", 0
        for row in rows:  # sl local remote state tx_queue:rx_queue ...
            _, local, _, state, queues, *_ = row.split()
            if local.endswith(port) and state == "01":  # an established connection to the server
                unread += int(queues.split(":")[1], 16)
        return unread

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = TIMEOUT) -> None:
        """Start the process and return once it answers PING.

        The first start moves to another free port if the chosen one was taken meanwhile;
        later starts keep the port, so clients reconnect to the same URL.
        """
        assert not self.running, "redis-server is already running"
        first = self.process is None and not self._log_path.exists()
        for attempt in range(_PORT_ATTEMPTS if first else 1):
            self._spawn()
            try:
                self.wait_ready(timeout)
                return
            except ServerExited:
                if attempt + 1 == _PORT_ATTEMPTS or not first:
                    raise
                if "Address already in use" not in self.output():
                    raise
                self.port = free_port()

    def stop(self, timeout: float = TIMEOUT) -> None:
        """Terminate the process (SIGTERM, which saves nothing with ``--save ""``) and wait."""
        if self.process is None:
            return
        if self.paused:
            self.resume(wait=False)  # a stopped process would not act on SIGTERM
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash would, and wait for it to be gone."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None
        self.paused = False

    def pause(self, timeout: float = TIMEOUT) -> None:
        """Freeze the process (SIGSTOP): connections stay open, commands go unanswered.

        Returns once the kernel reports the process stopped (where ``/proc`` exists).
        """
        assert self.running and not self.paused, "pause() needs a running, unpaused server"
        self.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        self.paused = True
        _wait_stopped(self.pid, timeout)

    def resume(self, *, wait: bool = True, timeout: float = TIMEOUT) -> None:
        """Continue a paused process (SIGCONT); with ``wait``, return once it answers PING."""
        assert self.running and self.paused, "resume() needs a paused server"
        self.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        self.paused = False
        if wait:
            self.wait_ready(timeout)

    def restart(self, keep_data: bool, timeout: float = TIMEOUT) -> None:
        """Stop the process and start a new one on the same port.

        With ``keep_data`` the new process holds the data set of the old one (saved with
        ``SAVE`` right before the stop); without, it starts empty.
        """
        if keep_data:
            if self.paused:
                self.resume(timeout=timeout)
            with self.client(socket_timeout=timeout) as client:
                client.save()
            self.stop(timeout)
        else:
            self.stop(timeout)
            self._remove_data()
        self.start(timeout)

    def wait_ready(self, timeout: float = TIMEOUT) -> None:
        """Return once the server answers PING; raise if it exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        with self.client(socket_connect_timeout=0.5, socket_timeout=1.0) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise ServerExited(f"redis-server on port {self.port} exited:\n{self.output()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    pass  # not listening yet, or still loading its data set
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"redis-server on port {self.port} did not answer PING in {timeout} s:\n"
                        f"{self.output()}"
                    )
                time.sleep(0.01)  # poll interval, not a wait for a condition

    # ------------------------------------------------------------------ internals

    def _argv(self) -> list[str]:
        return [
            *(self.binary, "--bind", "127.0.0.1", "--port", str(self.port)),
            *("--save", "", "--dir", str(self.directory), "--dbfilename", _DUMP),
            *("--appendonly", "yes" if self.appendonly else "no"),
            *(("--appendfsync", "always") if self.appendonly else ()),
            *self.extra_args,
        ]

    def _spawn(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
            )
        self.paused = False

    def _remove_data(self) -> None:
        (self.directory / _DUMP).unlink(missing_ok=True)
        shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)


def _wait_stopped(pid: int, timeout: float) -> None:
    """Return once ``/proc/<pid>/stat`` shows the process stopped (``T``); at once without /proc."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + timeout
    while True:
        try:
            # The state follows the command name, which is in parentheses and may hold spaces.
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("T", "t"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} was not stopped {timeout} s after SIGSTOP")
        time.sleep(0.001)  # poll interval, not a wait for a condition
