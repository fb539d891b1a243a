"""What a run is asked to do: the constants, :class:`BenchOptions`, the progress bar."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

#: The checkout this harness belongs to: results and plots are written inside it.
REPO = Path(__file__).resolve().parents[2]
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
    #: REZNET_WS settings of the benchmark servers (``--setting KEY=JSON``).
    settings: dict[str, Any] = field(default_factory=dict)
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
