"""Run every benchmark (bounded in time, loopback only), then rewrite docs/benchmarks.md.

Run: ``python benchmarks/run_all.py`` or ``make bench``. ``--quick`` runs the short variants;
``--skip soak deflate`` leaves those benchmarks out (their last results stay and are reported).
Names: payload, migration, layers, deflate, load, load-reznet, soak.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RESULTS = "benchmarks/results"
#: The runs of ours on reznet-daphne shown in docs/benchmarks.md, beside ``wsbench --suite``.
REZNET_RUNS = (
    ("load-inmemory-hub-reznet", ["--clients", "1000"]),
    ("load-isolated-hub-reznet", ["--clients", "1000", "--rate", "1", "--duration", "1"]),
    ("load-redis-hub-reznet", ["--clients", "1000", "--layer", "redis"]),
    ("load-redis-pubsub-hub-reznet", ["--clients", "1000", "--layer", "redis-pubsub"]),
    ("load-redis-2srv-hub-reznet", ["--clients", "2000", "--servers", "2", "--layer", "redis"]),
    ("load-inmemory-hub-deflate", ["--clients", "1000", "--deflate"]),
    (
        "load-inmemory-hub-deflate-context",
        ["--clients", "1000", "--deflate", "--setting", "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER=false"],
    ),
    ("load-scale-2000", ["--clients", "2000"]),
    ("load-scale-10k", ["--clients", "10000", "--rate", "1", "--duration", "60"]),
    (
        "load-scale-20k-2srv",
        [
            *("--clients", "20000", "--servers", "2", "--layer", "redis"),
            *("--rate", "1", "--duration", "60"),
        ],
    ),
)

#: ``--quick`` soak: one minute, 200 clients, its results apart from the 10-minute run's.
QUICK_SOAK = ["--duration", "60", "--connections", "200", "--out", f"{RESULTS}/soak-quick.json"]


def run(*argv: str) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


def load_reznet(quick: bool) -> None:
    for name, options in REZNET_RUNS[:1] if quick else REZNET_RUNS:
        reznet = [] if "--deflate" in options else ["--reznet-server"]
        run(
            "benchmarks/wsbench.py",
            "--server",
            "ours",
            *reznet,
            *options,
            "--no-progress",
            "--out",
            f"{RESULTS}/{name}.json",
        )


def benchmarks(quick: bool) -> dict[str, list[list[str]] | None]:
    """Name -> the script command lines it runs (None: a function of this module)."""
    return {
        "payload": [["benchmarks/bench_payload.py"]],
        "migration": [["benchmarks/bench_migration.py"]],
        "layers": [["benchmarks/bench_layers.py", *(["--repeat", "1"] if quick else [])]],
        "deflate": [
            ["benchmarks/bench_deflate.py", *(["--quick"] if quick else [])],
            ["benchmarks/bench_deflate_modes.py"],
        ],
        "msgpack": [["benchmarks/bench_msgpack.py", *(["--quick"] if quick else [])]],
        "load": [["benchmarks/wsbench.py", "--quick" if quick else "--suite"]],
        "load-reznet": None,
        "soak": [["benchmarks/soak.py", *QUICK_SOAK] if quick else ["benchmarks/soak.py"]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short variants")
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME", help="benchmarks to skip")
    args = parser.parse_args(argv)
    plan = benchmarks(args.quick)
    unknown = set(args.skip) - set(plan)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; names: {', '.join(plan)}")
    for name, commands in plan.items():
        if name in args.skip:
            print(f"- {name}: skipped, its last results stay", flush=True)
        elif commands is None:
            load_reznet(args.quick)
        else:
            for command in commands:
                run(*command)
    run("benchmarks/report.py")


if __name__ == "__main__":
    main()
