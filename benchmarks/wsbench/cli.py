"""The command line shared by ``python benchmarks/wsbench.py`` (or ``python -m
benchmarks.wsbench``) and ``manage.py wsbench``: options, ``--suite``, ``--report``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from benchmarks.wsbench.options import (
    LAYERS,
    RESULTS,
    SERVER_CHOICES,
    TARGETS,
    BenchOptions,
    Progress,
)
from benchmarks.wsbench.report import markdown_table, write_outputs, write_report
from benchmarks.wsbench.runner import run_bench

DESCRIPTION = (
    "Load and latency benchmark: N WebSocket clients, a fixed broadcast rate, ours against plain."
)
#: The documented command (recorded in each result file, with the options that produced it).
SCRIPT = ("python", "benchmarks/wsbench.py")

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
    argv = list(SCRIPT)
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
        "--setting",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a REZNET_WS setting of the benchmark server, e.g. "
        "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER=false; repeatable",
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
        settings=parse_settings(args.setting),
        reznet_server=args.reznet_server,
        client=args.client,
        token=args.token,
        command=command,
    )


def parse_settings(items: list[str]) -> dict[str, Any]:
    """Return ``{"KEY": value}`` from ``KEY=JSON`` items (a value that is not JSON is a string)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--setting {item!r}: expected KEY=JSON")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


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


def main(argv: list[str] | None = None, launcher: Sequence[str] = SCRIPT) -> int:
    """Run the command line ``argv`` (``sys.argv[1:]``); ``launcher`` is recorded before it."""
    parser = argparse.ArgumentParser(prog=" ".join(launcher), description=DESCRIPTION)
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join([*launcher, *argv])
    args = parser.parse_args(argv)
    try:
        return execute(args, command, sys.stdout)
    except (ValueError, RuntimeError) as exc:
        parser.error(str(exc))
