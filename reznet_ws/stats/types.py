"""What the stats store and its backends share: the snapshot, the key layout's constants, errors.

No I/O and no imports of the store or the backends, so both can import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "SEQUENCE_TTL",
    "SERIES_FIELDS",
    "SERIES_TTL",
    "Backend",
    "Snapshot",
    "StatsUnavailable",
    "now_iso",
]

#: The values kept per minute, in this order.
SERIES_FIELDS = ("messages", "original", "optimized")
#: Seconds a per-minute bucket lives: the hour the page shows plus two minutes of slack.
SERIES_TTL = 62 * 60
#: Seconds the store remembers a process's last applied flush: longer than any stall or outage
#: after which a flush held up in the cache could still be applied next to its retry.
SEQUENCE_TTL = 24 * 60 * 60


class StatsUnavailable(Exception):
    """The stats cache could not be reached (or answered with an error)."""


@dataclass
class Snapshot:
    """Raw contents of the store, as :meth:`StatsStore.read` returns them."""

    counters: dict[str, int] = field(default_factory=dict)
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    processes: dict[str, dict[str, int]] = field(default_factory=dict)
    since: str | None = None


class Backend(Protocol):
    """What :class:`~reznet_ws.stats.store.StatsStore` needs from a layout (:mod:`.backends`)."""

    def apply(
        self,
        counters: Mapping[str, int],
        minutes: Mapping[int, tuple[int, ...]],
        process: tuple[str, Mapping[str, int], float] | None,
        sequence: tuple[str, int] | None,
    ) -> bool: ...

    def read(self, minutes: Iterable[int]) -> Snapshot: ...

    def reset(self, minutes: Iterable[int]) -> None: ...

    def drop_process(self, process_id: str) -> None: ...

    def ping(self) -> None: ...


def now_iso() -> str:
    """Return the current UTC time as ``2025-11-04T12:00:00Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
