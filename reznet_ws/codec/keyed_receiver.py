"""A receiver of keyed frames in Python (protocol section 3.2), as the JavaScript client is one.

For tests, tools and Python clients: it holds the DATA of the last version per key, applies
deltas only in order, and hands back the whole decoded object.
"""

from __future__ import annotations

import json
from typing import Any

from .delta import DeltaError, apply_delta
from .frames import Codec

__all__ = ["KeyedReceiver"]


class KeyedReceiver:
    """A receiver's side of keyed frames (what the JavaScript client does), for tests and tools.

    :meth:`receive` takes a parsed keyed frame and returns ``(event, data, meta)`` with the full
    decoded object, or None when the frame cannot be applied (a version gap, an unknown key, a
    delta that does not fit): the receiver then waits for the next full frame of that key.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        #: key -> (epoch, version, DATA value as received, event).
        self.held: dict[str, tuple[str, int, object, str]] = {}
        self.gaps = 0

    def receive(self, frame: dict[str, Any]) -> tuple[str, object, dict[str, Any]] | None:
        """Apply one keyed frame; see the class docstring."""
        key, version = frame["k"], frame["n"]
        if "d" in frame:
            event = frame["e"]
            self.held[key] = (frame.get("s", ""), version, frame["d"], event)
            meta = {"key": key, "version": version, "delta": False}
            return event, self.codec.decode_data(json.loads(json.dumps(frame["d"]))), meta
        held = self.held.get(key)
        if held is None or held[1] != version - 1:
            self.held.pop(key, None)
            self.gaps += 1
            return None
        try:
            value = apply_delta(held[2], frame["x"])
        except DeltaError:
            self.held.pop(key, None)
            self.gaps += 1
            return None
        event = frame.get("e", held[3])
        self.held[key] = (held[0], version, value, event)
        data = self.codec.decode_data(json.loads(json.dumps(value)))
        return event, data, {"key": key, "version": version, "delta": True}
