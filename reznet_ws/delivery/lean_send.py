"""The lean half of :class:`~reznet_ws.delivery.connection.Connection`: the common event, fast.

Most events an application sends are unkeyed, unbatched and small enough not to be gzipped,
to a JSON v2 connection with no batch waiting. For those, :meth:`LeanSendMixin.lean_frame`
encodes the frame in one codec call, without the per-event caches of
:class:`~reznet_ws.encoding.EncodedEvent` that broadcasts share, and
:meth:`LeanSendMixin.sent_lean` counts it with the recorder's cheapest call. The consumer's
``send_event`` calls the two directly; anything else goes down
:meth:`Connection.send_event <reznet_ws.delivery.connection.Connection.send_event>`. Kept
apart from the general pipeline so that this path stays short enough to read at a glance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..batching import BatchBuffer
from ..codec import Codec
from ..codec.msgpack_frames import JSON
from ..conf import get_config
from ..encoding import EncodedEvent
from ..stats import get_recorder, log_payload

if TYPE_CHECKING:
    from ..codec.entities import EntityTable
    from .connection import Tally
    from .outbox import Outbox

__all__ = ["LeanSendMixin"]


class LeanSendMixin:
    """Encodes, sends and counts the common event in as few steps as it takes."""

    # The connection's state this half reads (set in Connection.__init__).
    outbox: Outbox
    codec: Codec | None
    version: int
    encoding: str
    entities: EntityTable | None
    _batch: BatchBuffer[None] | None

    if TYPE_CHECKING:  # defined by Connection

        async def send_event(
            self,
            encoded: EncodedEvent,
            *,
            optimize: bool = True,
            batch: bool = False,
            tally: Tally | None = None,
            push: bool = False,
            key: str | None = None,
        ) -> None: ...

    def lean_frame(self, event: str, data: Any) -> tuple[str, int, int] | None:
        """Return ``(frame, original size, sent size)`` of an event that takes the common path.

        The common path: an unkeyed, unbatched, optimized event small enough not to be gzipped,
        to a JSON v2 connection with no batch waiting. It is encoded here, once, without the
        caches broadcasts need; the caller sends ``frame`` with :attr:`outbox` and then calls
        :meth:`sent_lean`. Anything else (None) goes through :meth:`send_event`.
        """
        codec = self.codec
        if (
            codec is None
            or self.version != 2
            or self.encoding != JSON
            or (self._batch is not None and self._batch.size)
            or self.entities is not None
            or not get_config()["OPTIMIZE"]
        ):
            return None
        try:
            lean = codec.encode_event_measured(event, data)
        except (ValueError, TypeError, RecursionError):
            return None  # send_event counts the fallback and sends the plain encoding
        if lean[2] >= codec.gzip_threshold:  # may be worth gzipping
            return None
        return lean

    def sent_lean(self, event: str, original: int, sent: int) -> None:
        """Count a frame of :meth:`lean_frame` once it is sent (and log its payload):
        ``original`` and ``sent`` are the sizes :meth:`lean_frame` returned with it."""
        config = get_config()
        if config["STATS_ENABLED"]:
            get_recorder().record_sent(event, original, sent)
        threshold = config["LOG_PAYLOAD_THRESHOLD"]
        if threshold is not None and original >= threshold:
            log_payload(event, original, sent)
