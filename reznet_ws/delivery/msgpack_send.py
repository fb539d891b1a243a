"""The ``reznet.v2.msgpack`` side of a connection's pipeline (docs/protocol.md section 7).

:class:`~reznet_ws.delivery.connection.Connection` hands its sends here when its ``encoding`` is
``"msgpack"``: the same steps as the JSON path (encode once per event and codec, batch or frame,
write, record), with packed DATA and binary frames. Events MessagePack cannot carry losslessly go
out as the v1 text frame, as unoptimizable events do on JSON v2. Frames are never gzipped: the
transport's permessage-deflate is the compression of this encoding.

What a msgpack connection sends is also counted per encoding (the stats' ``by_encoding``):
added up on the connection and recorded every ``RECORD_EVERY`` frames, every
``RECORD_SECONDS`` and at close, so a broadcast costs its msgpack members no stats lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..codec.content import CONTENT_EVENT, encode_v1_content, strict_codec
from ..codec.msgpack_frames import MSGPACK, msgpack_codec
from ..codec.msgpack_keyed import keyed_payload as _pack_keyed
from ..codec.msgpack_stream import stream_message as _length_prefixed
from ..conf import get_config
from ..encoding import EncodedEvent
from ..stats import get_recorder

if TYPE_CHECKING:
    from .connection import Connection, Tally
    from .prepared import Broadcast, Frame

__all__ = [
    "RECORD_EVERY",
    "RECORD_SECONDS",
    "batch_payload",
    "count",
    "keyed_payload",
    "keyed_prepared",
    "prepared_frame",
    "raw_frame",
    "record_counts",
    "send_content",
    "send_event",
    "stream_message",
]

#: A msgpack connection records what it sent after this many frames ...
RECORD_EVERY = 32
#: ... or this many seconds after its last record, whichever comes first (and at close).
RECORD_SECONDS = 1.0


def count(connection: Connection, messages: int, original: int, sent: int) -> None:
    """Called for each frame a msgpack connection sends: adds it to the connection's counts."""
    counts = connection.encoding_counts
    counts[0] += messages
    counts[1] += original
    counts[2] += sent
    now = time.monotonic()
    if counts[0] >= RECORD_EVERY or now - counts[3] >= RECORD_SECONDS:
        record_counts(connection, now)


def record_counts(connection: Connection, now: float | None = None) -> None:
    """Record the connection's counts in the stats (``record_encoding``) and zero them."""
    counts = connection.encoding_counts
    if counts[0]:
        messages, original, sent = int(counts[0]), int(counts[1]), int(counts[2])
        get_recorder().record_encoding(MSGPACK, messages, original, sent)
    counts[:] = [0, 0, 0, time.monotonic() if now is None else now]


def _packed(encoded: EncodedEvent, codec: Codec, optimize: bool) -> tuple[bytes, bytes] | None:
    if not optimize or not get_config()["OPTIMIZE"]:
        return None
    return encoded.msgpack_frames(codec)


async def send_event(
    connection: Connection,
    encoded: EncodedEvent,
    *,
    optimize: bool,
    batch: bool,
    tally: Tally | None,
    push: bool,
) -> None:
    """Called by ``Connection.send_event`` on a msgpack connection: one event, sent."""
    codec = connection._codec()
    packed = _packed(encoded, codec, optimize)
    if packed is None:
        await connection.flush_batch(push=push)
        text = encoded.v1_text(codec)
        await connection._write(text, push)
        connection._count(encoded.event, len(text), len(text), False, tally)
        count(connection, 1, len(text), len(text))
        return
    if batch:
        await connection._queue(encoded, packed[0], push)
        return
    await connection.flush_batch(push=push)
    await connection._write(packed[1], push)
    original = encoded.v1_size(codec)
    connection._count(encoded.event, original, len(packed[1]), False, tally)
    count(connection, 1, original, len(packed[1]))


def batch_payload(
    connection: Connection, codec: Codec, items: Sequence[tuple[EncodedEvent, Any]]
) -> bytes:
    """Called by ``Connection.flush_batch``: the frame of queued (event, packed DATA) items."""
    frames = msgpack_codec(codec)
    if len(items) == 1:
        frame = frames.event_frame(items[0][0].event, items[0][1])
    else:
        get_recorder().record_batch(len(items))
        frame = frames.batch_frame([(encoded.event, data) for encoded, data in items])
    original = sum(encoded.v1_size(codec) for encoded, _ in items)
    count(connection, len(items), original, len(frame))
    return frame


async def send_content(connection: Connection, content: Any, v1_text: str | None) -> None:
    """Called by ``Connection.send_content`` on a msgpack connection: a packed content frame.

    Content MessagePack cannot carry losslessly (or that the strict encoding refuses) goes out as
    its v1 text; what ``json.dumps`` refuses raises, as in plain Channels.
    """
    codec = connection._codec()
    text = encode_v1_content(content) if v1_text is None else v1_text  # may raise, as v1 does
    try:
        frames = msgpack_codec(strict_codec(codec))
        payload = frames.content_frame(frames.encode_data(content))
    except (ValueError, TypeError, RecursionError) as exc:
        get_recorder().record_fallback(type(exc).__name__)
        await connection.send_text(text)
        count(connection, 1, len(text), len(text))
        return
    await connection.flush_batch()
    await connection._write(payload, False)
    get_recorder().record_message(CONTENT_EVENT, len(text), len(payload), False)
    count(connection, 1, len(text), len(payload))


def prepared_frame(encoded: EncodedEvent, codec: Codec, optimize: bool) -> Frame:
    """Called by ``Broadcast.frame``: the complete WebSocket frame for msgpack members."""
    from .prepared import ws_frame

    packed = _packed(encoded, codec, optimize)
    if packed is None:
        text = encoded.v1_text(codec)
        return ws_frame(text.encode("ascii"), False), len(text), len(text), False
    frame = packed[1]
    return ws_frame(frame, True), encoded.v1_size(codec), len(frame), False


def raw_frame(codec: Codec, event: str, data: Any) -> str | bytes:
    """Called by ``Connection.send_raw``: a control event's packed raw frame (or its JSON one)."""
    return msgpack_codec(codec).raw_frame(event, data)


def keyed_payload(connection: Connection, text: str, original: int) -> bytes | str:
    """Called by ``keyed.send_keyed`` on a msgpack connection: the keyed frame ``text`` packed.

    Returns the binary frame, or ``text`` itself (a JSON text frame) when MessagePack cannot
    carry it losslessly, counted as ``fallback:ValueError``.
    """
    payload = _pack_keyed(msgpack_codec(connection._codec()), text)
    if payload is text:
        get_recorder().record_fallback("ValueError")
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))
    count(connection, 1, original, size)
    return payload


def keyed_prepared(codec: Codec, text: str) -> bytes | str:
    """Called once per keyed broadcast frame and codec (``keyed_groups``): ``text`` packed.

    Returns the binary frame, or ``text`` when MessagePack cannot carry it (see
    :func:`keyed_payload`).
    """
    payload = _pack_keyed(msgpack_codec(codec), text)
    if payload is text:
        get_recorder().record_fallback("ValueError")
    return payload


def stream_message(encoded: EncodedEvent, codec: Codec, broadcast: Broadcast) -> bytes:
    """Called once per broadcast by a msgpack group stream: the message it compresses.

    The message a msgpack member would otherwise receive (the packed frame, or the v1 text of
    an event MessagePack cannot carry), its length first (docs/protocol.md section 7).
    """
    packed = _packed(encoded, codec, broadcast.optimize)
    message = packed[1] if packed is not None else encoded.v1_text(codec).encode("utf-8")
    return _length_prefixed(message)
