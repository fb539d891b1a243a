"""The feature counters of :class:`~reznet_ws.stats.StatsRecorder`: one method per feature.

Besides the message counts of the hot path (``record_message`` / ``record_sent``, folded in
:mod:`.recorder`), the recorder keeps plain named counters for what each feature does: batches,
group streams, deltas, entity references, fallbacks, errors, encodings, connections and the bytes
on the wire. Each ``record_*`` method here adds to a few of them under the recorder's lock (no
I/O, no await), and does nothing while ``STATS_ENABLED`` is off. Kept apart from the message
path, whose counting is tuned for speed, and from the flushing (:mod:`.flushing`), which sends
every counter alike.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING


class _Counting:
    """The ``record_*`` methods built on :meth:`_add`; the state is set by ``StatsRecorder``."""

    lock: threading.RLock
    counters: Counter[str]

    if TYPE_CHECKING:  # defined by StatsRecorder

        @staticmethod
        def enabled() -> bool: ...

        def _ensure_started(self) -> None: ...

    def _add(self, *pairs: tuple[str, int]) -> None:
        if not self.enabled():
            return
        with self.lock:
            for name, n in pairs:
                self.counters[name] += n
        self._ensure_started()

    def record_batch(self, size: int) -> None:
        """Called once per batch frame sent, with the number of events in it."""
        self._add(("batches", 1), ("batched_messages", size))

    def record_stream(self, frames: int, size: int, original: int, codec: str = "deflate") -> None:
        """Called once per broadcast sent in a group stream: its frames, their bytes (frame
        headers included), what plain JSON (v1) would have sent, and the stream's codec."""
        self._add(
            ("stream_frames", frames),
            ("stream_bytes", size),
            ("stream_original", original),
            (f"stream_bytes:{codec}", size),
            (f"stream_frames:{codec}", frames),
        )

    def record_error(self, code: str) -> None:
        """Called once per rejected client message (``code`` as in docs/protocol.md)."""
        self._add((f"error:{code}", 1))

    def record_fallback(self, reason: str) -> None:
        """Called when a payload could not be optimized and went out in the plain encoding."""
        self._add((f"fallback:{reason}", 1))

    def record_delta(self, event: str, deltas: int, fulls: int, saved: int) -> None:
        """Called per keyed send (per broadcast, once): delta and full frames, bytes saved."""
        self._add(
            ("delta_frames", deltas),
            ("delta_full", fulls),
            ("delta_bytes_saved", saved),
            (f"delta_frames:{_storable(event)}", deltas),
            (f"delta_full:{_storable(event)}", fulls),
        )

    def record_delta_evicted(self, count: int = 1) -> None:
        """Called when a key's last version is evicted (``DELTA_MAX_KEYS`` / ``_BYTES``)."""
        self._add(("delta_evicted", count))

    def record_entities(self, refs: int, defined: int, saved: int, evicted: int) -> None:
        """Called per event with entity references (per broadcast, once): docs/deltas.md."""
        self._add(
            ("entity_refs", refs),
            ("entity_defs", defined),
            ("entity_bytes_saved", saved),
            ("entity_evicted", evicted),
        )

    def record_entity_resync(self) -> None:
        """Called when a client reports a reference it could not resolve."""
        self._add(("entity_resync", 1))

    def record_delta_resync(self, count: int = 1) -> None:
        """Called when a client asks for full objects of keys it could not continue."""
        self._add(("delta_resync", count))

    def record_encoding(self, encoding: str, messages: int, original: int, sent: int) -> None:
        """Called for the events sent over connections of a non-JSON ``encoding`` (``msgpack``).

        ``messages`` events, ``original`` bytes as v1, ``sent`` bytes sent; every connection
        adds up a few frames before calling (see :mod:`reznet_ws.delivery.msgpack_send`).
        """
        self._add(
            (f"encoding_messages:{encoding}", messages),
            (f"encoding_original:{encoding}", original),
            (f"encoding_sent:{encoding}", sent),
        )

    def connection_opened(self, version: int) -> None:
        """Called when a connection is accepted with protocol ``version`` (1 or 2)."""
        self._add(
            ("active_connections", 1), (f"connections:v{version}", 1), (f"opened:v{version}", 1)
        )

    def connection_closed(self, version: int) -> None:
        """Called when an accepted connection ends."""
        self._add(("active_connections", -1), (f"connections:v{version}", -1))

    def record_wire_bytes(self, sent: int, received: int, deflate: bool | None = None) -> None:
        """Called by the server with the bytes a connection wrote to / read from the socket.

        ``deflate``: whether the connection negotiated permessage-deflate (None: unknown), to
        split the bytes by transport.
        """
        if deflate is None:
            self._add(("wire_bytes_sent", sent), ("wire_bytes_received", received))
            return
        transport = "deflate" if deflate else "plain"
        self._add(
            ("wire_bytes_sent", sent),
            ("wire_bytes_received", received),
            (f"wire_bytes_sent:{transport}", sent),
            (f"wire_bytes_received:{transport}", received),
        )


def _storable(event: str) -> str:
    """Return ``event`` as a cache key can hold it: lone surrogates (valid in a Python string and
    in JSON, not in UTF-8) written as ``\\udXXX`` escapes, so one odd name cannot stop the
    flushes of every count."""
    try:
        event.encode("utf-8")
    except UnicodeEncodeError:
        return event.encode("utf-8", "backslashreplace").decode("ascii")
    return event
