"""``manage.py wsstats``: the WebSocket stats as a table (``--json``, ``--watch [SECONDS]``)."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...stats import StatsUnavailable, get_stats

__all__ = ["Command"]

MIN_INTERVAL, MAX_INTERVAL = 0.5, 3600.0
_CLEAR = "\x1b[H\x1b[2J"


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise ArgumentTypeError(f"must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds")
    return value


def format_table(stats: dict[str, Any]) -> str:
    """Return the stats as the plain-text report the command prints."""
    by_version = ", ".join(f"{v}: {n}" for v, n in stats["connections"]["by_version"].items())
    batches = stats["batches"]
    rows = [
        ("Messages", f"{stats['total_messages']:,}"),
        ("Bytes as plain JSON", f"{stats['total_bytes_original']:,}"),
        ("Bytes sent", f"{stats['total_bytes_optimized']:,}"),
        ("Reduction", f"{stats['reduction_percentage']:.1f} %"),
        ("Compressed messages", f"{stats['compressed_messages']:,}"),
        ("Average message size", f"{stats['avg_message_size']:,} B"),
        (
            "Active connections",
            f"{stats['active_connections']:,}" + (f" ({by_version})" if by_version else ""),
        ),
        ("Batches", f"{batches['count']:,} ({batches['avg_messages_per_batch']} messages each)"),
        (
            "Wire bytes sent / received",
            f"{stats['wire']['bytes_sent']:,} / {stats['wire']['bytes_received']:,}",
        ),
        ("Counting since", stats["since"] or "-"),
    ]
    lines = [f"{label:<28}{value}" for label, value in rows]
    if stats["events"]:
        lines += [
            "",
            f"{'Event':<28}{'Messages':>10}{'Plain JSON':>14}{'Sent':>14}{'Reduction':>11}",
        ]
        lines += [
            f"{name:<28}{e['messages']:>10,}{e['bytes_original']:>14,}{e['bytes_optimized']:>14,}"
            f"{e['reduction_percentage']:>9.1f} %"
            for name, e in stats["events"].items()
        ]
    problems = [
        *stats["errors"].items(),
        *((f"fallback:{k}", n) for k, n in stats["fallbacks"].items()),
    ]
    if problems:
        lines += ["", f"{'Error':<28}{'Count':>10}"]
        lines += [f"{code:<28}{n:>10,}" for code, n in problems]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print the WebSocket stats (from the STATS_CACHE_ALIAS cache) as a table or JSON."

    #: Test seam: how the command waits between two ``--watch`` refreshes.
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument(
            "--watch",
            nargs="?",
            const=2.0,
            type=_interval,
            metavar="SECONDS",
            help=f"Refresh every SECONDS (default 2, {MIN_INTERVAL:g}-{MAX_INTERVAL:g}) "
            "until Ctrl-C.",
        )
        parser.add_argument(
            "--count",
            type=int,
            metavar="N",
            help="With --watch: stop after N refreshes.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        watch: float | None = options["watch"]
        count: int | None = options["count"]
        if count is not None and count < 1:
            raise CommandError("--count must be at least 1.")
        if watch is None:
            self.stdout.write(self.render(options["json"]))
            return
        clear = not options["json"] and self.stdout.isatty()
        shown = 0
        try:
            while True:
                self.stdout.write((_CLEAR if clear else "") + self.render(options["json"]))
                shown += 1
                if count is not None and shown >= count:
                    return
                self.sleep(watch)
        except KeyboardInterrupt:
            self.stdout.write("")

    def render(self, as_json: bool) -> str:
        """Return one report (raises ``CommandError`` when the cache is down)."""
        try:
            stats = get_stats()
        except StatsUnavailable as exc:
            raise CommandError(f"The stats cache is unavailable: {exc}") from exc
        if as_json:
            return json.dumps(stats, indent=2)
        return format_table(stats)
