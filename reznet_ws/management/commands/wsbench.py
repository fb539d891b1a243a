"""``wsbench``: the load and latency benchmark (``benchmarks/wsbench.py``) with a progress bar.

    python manage.py wsbench --quick
    python manage.py wsbench --clients 100,250,500,1000 --server baseline --duration 15
    python manage.py wsbench --url ws://staging.internal:8001 --clients 500

The harness lives in ``benchmarks/`` of a reznet-ws checkout (it is not installed with the
package): run the command from the checkout's root. docs/load-testing.md describes every option.
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


def _harness() -> ModuleType:
    try:
        return importlib.import_module("benchmarks.wsbench")
    except ImportError as exc:
        raise CommandError(
            "wsbench needs benchmarks/ from a reznet-ws checkout on the Python path: run it from "
            f"the checkout's root ({exc})"
        ) from None


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
