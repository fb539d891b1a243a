"""The protocol errors a receiver reports (docs/protocol.md, section 5)."""

from __future__ import annotations

__all__ = ["ERROR_CODES", "ProtocolError"]

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
)


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
