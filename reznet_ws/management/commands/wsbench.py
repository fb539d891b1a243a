"""``wsbench``: the load and latency benchmark (``benchmarks/wsbench/``) with a progress bar.

    python manage.py wsbench --quick
    python manage.py wsbench --clients 100,250,500,1000 --server baseline --duration 15
    python manage.py wsbench --url ws://staging.internal:8001 --clients 500

The harness lives in ``benchmarks/`` of a reznet-ws checkout, which the installed package does
not include: run the command from the checkout's root. Elsewhere it stops with a CommandError
that says so. docs/load-testing.md describes every option.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from argparse import Namespace
from types import ModuleType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

__all__ = ["Command"]


#: Why the command cannot run outside a checkout, and what to do instead.
CHECKOUT_REQUIRED = (
    "wsbench runs the load harness in benchmarks/ of a reznet-ws checkout; the installed package "
    "does not include it. Clone the repository and run `python manage.py wsbench` (or "
    "`python benchmarks/wsbench.py`) from the checkout's root."
)


def _harness() -> ModuleType:
    """Return ``benchmarks.wsbench``; CommandError when it is not importable."""
    try:
        return importlib.import_module("benchmarks.wsbench")
    except ModuleNotFoundError as exc:
        if exc.name not in {"benchmarks", "benchmarks.wsbench"}:
            raise CommandError(f"the wsbench harness needs {exc.name!r}: {exc}") from None
        # Not there at all, or a "benchmarks" package of another project on the path.
        raise CommandError(CHECKOUT_REQUIRED) from None


class Command(BaseCommand):
    help = (
        "Load and latency benchmark: N WebSocket clients, broadcasts at a fixed rate, "
        "reznet_ws against plain Channels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        try:
            harness = _harness()
        except CommandError:
            return  # handle() reports it
        harness.add_arguments(parser)

    def run_from_argv(self, argv: list[str]) -> None:
        """Parse and run ``manage.py wsbench ...``; without the harness, say why it cannot run."""
        try:
            _harness()
        except CommandError:
            # The harness defines the options, so none can be parsed: drop them and let
            # handle() raise the CommandError, which Django reports (stderr, exit status 1).
            argv = argv[:2]
        super().run_from_argv(argv)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the benchmark; results go to ``--out`` (JSON, markdown) and a plot."""
        harness = _harness()
        if sys.argv[1:2] == ["wsbench"]:
            command = shlex.join(["python", "manage.py", *sys.argv[1:]])
        else:  # call_command(): no command line to record
            command = f"call_command('wsbench', clients={options['clients']!r}, ...)"
        try:
            harness.execute(Namespace(**options), command, self.stdout)
        except (ValueError, RuntimeError) as exc:
            raise CommandError(str(exc)) from None
