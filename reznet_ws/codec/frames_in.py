"""The codec's inbound half: client messages and server frames decoded under limits.

:class:`Decoding` is a base of :class:`~reznet_ws.codec.Codec`: it parses client messages
(``parse_incoming``, protocol sections 5 and 6, every limit checked) and decodes server frames as
a client does (``decode_frame``, ``decode_data``). It reads the limits and the DATA decoder the
codec sets up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import cast

from .compression import gzip_inflate
from .errors import ProtocolError
from .incoming import load_json, utf8_length_exceeds

__all__ = ["Decoding"]


def _is_number(value: object, number: int) -> bool:
    # 2, 2.0 and 2e0 are one JSON number (and one JavaScript number), so all three are accepted.
    return type(value) in (int, float) and value == number


class Decoding:
    """Decoding of client messages and server frames (a base of the codec)."""

    max_message_bytes: int
    max_depth: int
    max_inflate_bytes: int
    _decode_value: Callable[[object], object]

    def decode_data(self, value: object) -> object:
        """Return the plain JSON value of the parsed DATA ``value`` (the inverse of encoding).

        Raises :class:`ValueError` for a timestamp encoding that cannot be formatted.
        """
        return self._decode_value(value)

    def decode_frame(self, frame: str | bytes) -> list[tuple[str, object]]:
        """Return the ``(event, data)`` pairs of a server frame, as a client decodes it.

        Accepts v2 event, raw and batch frames, gzip binary frames and v1 envelopes. Raises
        :class:`ProtocolError` for anything else.
        """
        if not isinstance(frame, str):
            frame = self._inflate_text(bytes(frame))
        obj = load_json(frame, sys.maxsize)  # a client trusts the server's depth
        if type(obj) is not dict:
            raise ProtocolError("not_an_object", "a frame must be a JSON object")
        if "_v" in obj:
            return [(cast(str, item["event"]), item["data"]) for item in self._decode_v2(obj)]
        if type(obj.get("event")) is not str or "data" not in obj:
            raise ProtocolError("invalid_frame", 'a v1 frame has "event" and "data"')
        return [(obj["event"], obj["data"])]

    def parse_incoming(
        self, text: str | None = None, bytes_data: bytes | None = None, *, v2: bool
    ) -> list[dict[str, object]]:
        """Return the plain messages in one client message, checking every limit.

        A v1 or plain message gives ``[the parsed object]``; a v2 event frame gives
        ``[{"event": e, "data": decoded}]``, a batch one such dict per entry. Binary messages are
        accepted only when ``v2``, as gzip members. Raises :class:`ProtocolError`.
        """
        if text is None:
            if bytes_data is None:
                raise ProtocolError("malformed_json", "the message has neither text nor bytes")
            if not v2:
                raise ProtocolError("unexpected_binary", "binary frames need reznet.v2")
            if len(bytes_data) > self.max_message_bytes:
                raise ProtocolError("too_large", f"frame exceeds {self.max_message_bytes} bytes")
            obj = self._load(self._inflate_text(bytes_data))
            if "_v" not in obj:
                raise ProtocolError("invalid_frame", "a gzip frame must hold a v2 frame")
            return self._decode_v2(obj)
        if utf8_length_exceeds(text, self.max_message_bytes):
            raise ProtocolError("too_large", f"frame exceeds {self.max_message_bytes} bytes")
        obj = self._load(text)
        if v2 and "_v" in obj:
            return self._decode_v2(obj)
        return [obj]

    def _load(self, text: str) -> dict[str, object]:
        obj = load_json(text, self.max_depth)
        if type(obj) is not dict:
            raise ProtocolError(
                "not_an_object", f"expected a JSON object, got {type(obj).__name__}"
            )
        return obj

    def _inflate_text(self, data: bytes) -> str:
        content = gzip_inflate(data, self.max_inflate_bytes)
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("malformed_json", f"invalid UTF-8: {exc.reason}") from None

    def _decode_v2(self, obj: dict[str, object]) -> list[dict[str, object]]:
        version = obj["_v"]
        if not _is_number(version, 2):
            raise ProtocolError("unknown_version", f"unsupported _v {json.dumps(version)[:40]}")
        if "b" in obj:
            batch = obj["b"]
            if "e" in obj or type(batch) is not list:
                raise ProtocolError("invalid_frame", '"b" must be a list, without "e"')
            return [self._decode_entry(entry) for entry in batch]
        event = obj.get("e")
        if type(event) is not str or "d" not in obj:
            raise ProtocolError("invalid_frame", 'a v2 frame needs a string "e" and "d", or "b"')
        raw = obj.get("r")
        if raw is None:
            return [{"event": event, "data": self._decode_checked(obj["d"])}]
        if _is_number(raw, 1):
            return [{"event": event, "data": obj["d"]}]
        raise ProtocolError("invalid_frame", '"r" must be 1')

    def _decode_entry(self, entry: object) -> dict[str, object]:
        if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
            raise ProtocolError("invalid_frame", "a batch entry must be [event, data]")
        return {"event": entry[0], "data": self._decode_checked(entry[1])}

    def _decode_checked(self, value: object) -> object:
        try:
            return self._decode_value(value)
        except ValueError as exc:
            raise ProtocolError("invalid_frame", str(exc)) from None
