"""The protocol errors a receiver reports, and the event names the protocol reserves.

See docs/protocol.md, section 5.
"""

from __future__ import annotations

__all__ = [
    "ERROR_CODES",
    "RESERVED_EVENTS",
    "ProtocolError",
    "ReservedEventError",
    "check_event_name",
]

ERROR_CODES: tuple[str, ...] = (
    "malformed_json",
    "invalid_number",
    "not_an_object",
    "unexpected_binary",
    "too_large",
    "too_deep",
    "unknown_version",
    "decompression_failed",
    "invalid_frame",
    "missing_event",
    "batch_too_large",
    "rate_limited",
)

#: Names of the server's control events. The server sends them only as raw frames (``"r":1``),
#: a client honours them only there, and no application event may carry one of them.
RESERVED_EVENTS: frozenset[str] = frozenset({"connection_established", "error", "stats_response"})


class ProtocolError(Exception):
    """A message that the receiver cannot accept.

    ``code`` is one of :data:`ERROR_CODES` (stable, sent to the client in the ``error`` event);
    ``detail`` is a short human-readable explanation.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown protocol error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class ReservedEventError(ValueError):
    """An application tried to send an event under the name of a control event."""

    def __init__(self, event: str) -> None:
        names = ", ".join(sorted(RESERVED_EVENTS))
        super().__init__(
            f"{event!r} is the name of a reznet control event ({names}); "
            "an application event needs another name"
        )
        self.event = event


def check_event_name(event: object) -> None:
    """Raise :class:`ReservedEventError` when ``event`` is one of :data:`RESERVED_EVENTS`.

    Called first by ``send_event()`` and ``broadcast()``; other values pass (the encoder reports
    names that are not strings).
    """
    # str.__str__: the name the encoder writes, whatever a str subclass claims to equal.
    if type(event) is str:
        if event in RESERVED_EVENTS:
            raise ReservedEventError(event)
    elif isinstance(event, str) and str.__str__(event) in RESERVED_EVENTS:
        raise ReservedEventError(str.__str__(event))
