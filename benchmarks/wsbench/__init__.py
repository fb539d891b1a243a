"""Load and latency benchmark: N WebSocket clients, a fixed broadcast rate, ours against plain.

    python benchmarks/wsbench.py --clients 100,250 --rate 10 --duration 10 --server both
    python -m benchmarks.wsbench --quick      # the same entry point, as a module
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

The package: ``options`` (what to run, the progress bar), ``processes`` (daphne servers, load
generators, the control socket, /proc figures), ``runner`` (a run and its summary), ``report``
(JSON and markdown outputs), ``svg`` (the plot) and ``cli`` (the options and ``main``).
"""

from __future__ import annotations

from benchmarks.wsbench.cli import add_arguments, execute, main
from benchmarks.wsbench.options import BenchOptions, Progress
from benchmarks.wsbench.report import write_outputs, write_report
from benchmarks.wsbench.runner import run_bench

__all__ = [
    "BenchOptions",
    "Progress",
    "add_arguments",
    "execute",
    "main",
    "run_bench",
    "write_outputs",
    "write_report",
]
