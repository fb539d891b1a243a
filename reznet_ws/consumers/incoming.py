"""What a connection does with a client frame: limits, decoding, and what to dispatch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..codec import Codec, ProtocolError
from ..codec.msgpack_frames import JSON, MSGPACK, msgpack_codec
from ..conf import get_config
from ..limits import IncomingLimits

__all__ = ["Decoded", "Dispatch", "IncomingGate", "classify"]

#: What :func:`classify` tells the consumer to do with one message:
#: ``("event", name, data)``, ``("stats", None, None)`` or ``("error", code, detail)``.
Dispatch = tuple[str, Any, Any]


@dataclass
class Decoded:
    """The outcome of one client frame."""

    #: Messages to dispatch, in order.
    contents: list[Any]
    #: Events of the frame refused by the rate limit (after the dispatched ones).
    refused: int = 0
    #: The frame's error, ``(code, detail)``, when it was refused whole.
    error: tuple[str, str] | None = None


class IncomingGate:
    """Decodes frames of one connection under ``MAX_BATCH_EVENTS`` and the rate limit."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.limits = IncomingLimits.from_config(get_config(), clock)

    def decode(
        self, codec: Codec, text: str | None, data: bytes | None, v2: bool, encoding: str = JSON
    ) -> Decoded:
        """Return what to dispatch of one frame, or the error that refuses it.

        On a ``reznet.v2.msgpack`` connection (``encoding`` ``"msgpack"``) a binary frame is
        MessagePack; text frames are JSON on every connection.
        """
        try:
            if encoding == MSGPACK and data is not None and text is None:
                contents = msgpack_codec(codec).parse_incoming(data)
            else:
                contents = codec.parse_incoming(text, data, v2=v2)
            admitted = self.limits.admit(len(contents))
        except ProtocolError as exc:
            return Decoded([], error=(exc.code, exc.detail))
        return Decoded(contents[:admitted], refused=len(contents) - admitted)

    @staticmethod
    def refused_detail(refused: int, total: int) -> str:
        """The ``rate_limited`` error's detail for a frame."""
        rate = get_config()["INCOMING_RATE"]
        return f"{refused} of {total} events over {rate} a second were dropped"


def classify(content: Any) -> Dispatch:
    """Decide what one decoded message is: an event, a stats request or an error."""
    if not isinstance(content, dict):
        return ("error", "not_an_object", "a message must be a JSON object")
    event = content.get("event")
    if not isinstance(event, str):
        return ("error", "missing_event", 'a message needs a string "event"')
    if event == "get_stats":
        return ("stats", None, None)
    return ("event", event, content.get("data"))
