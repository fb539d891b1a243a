"""Group streams on ``reznet.v2.msgpack`` connections (docs/protocol.md sections 3.3 and 7).

A stream of MessagePack members carries, per broadcast, the message such a member would otherwise
have received: the binary MessagePack frame, or the v1 text frame of an event MessagePack cannot
carry. MessagePack bytes may hold any byte, so the one-line framing of JSON streams does not
apply: each frame's DATA inflates to an unsigned LEB128 varint ``L`` followed by exactly ``L``
bytes, the message. A message whose first byte is ``{`` is JSON text (a MessagePack frame, a
map, starts with ``80``-``8f``, ``de`` or ``df``).

Pure: no Django or Channels imports.
"""

from __future__ import annotations

from .errors import ProtocolError
from .stream import StreamDecoder, read_varint, varint

__all__ = ["MsgpackStreamDecoder", "split_message", "stream_message"]

_TEXT = 0x7B  # "{": a JSON text frame inside a MessagePack stream
_NOT_ONE_MESSAGE = ("decompression_failed", "a stream frame is not one message")


def stream_message(message: bytes) -> bytes:
    """Return ``message`` as a MessagePack stream carries it: its length first (a varint)."""
    return varint(len(message)) + message


def split_message(out: bytes) -> str | bytes:
    """Return the message of one inflated frame: the bytes of a binary frame, or JSON text.

    Raises :class:`ProtocolError` ``decompression_failed`` when ``out`` is not one
    length-prefixed message, ``malformed_json`` for text that is not UTF-8.
    """
    size, pos = read_varint(out, 0, _NOT_ONE_MESSAGE)
    if size == 0 or len(out) - pos != size:
        raise ProtocolError("decompression_failed", "a stream frame is not one message")
    message = out[pos:]
    if message[0] != _TEXT:
        return message
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("malformed_json", "a stream message is not UTF-8") from None


class MsgpackStreamDecoder(StreamDecoder):
    """The receiver's streams on a ``reznet.v2.msgpack`` connection (tests, tools, clients).

    :meth:`decode` returns the message of a stream frame: ``bytes`` of a binary MessagePack
    frame, or ``str`` of a JSON text frame; errors as :class:`StreamDecoder` raises them.
    """

    def _one_line(self, out: bytes) -> str:
        return split_message(out)  # type: ignore[return-value]

    def decode_message(self, data: bytes) -> str | bytes:
        """Return the message of the stream frame ``data`` (see the class docstring)."""
        message: str | bytes = self.decode(data)
        return message
