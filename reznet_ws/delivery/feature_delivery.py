"""The feature branches of a broadcast's delivery to one member: streams, keyed, batched, entities.

:meth:`Connection.deliver <reznet_ws.delivery.connection.Connection.deliver>` writes a plain
broadcast itself: the same prepared frame to every member. When the broadcast or the member
uses a feature, it first asks here, in this order:

1. a group-stream broadcast to a member that negotiated ``stream``: its frame of the group's
   stream (:mod:`.streams`), written by :func:`deliver_stream`;
2. a keyed broadcast to a member that negotiated ``delta``: the delta or full frame
   (:mod:`.keyed_groups`);
3. a batched broadcast timed by the hub: queued in the member's batch (:mod:`.batch_send`);
4. any other broadcast to a member holding entity references (:mod:`.entities`).

Each function returns what ``deliver`` returns (True: handled; False: the awaited path
:meth:`~reznet_ws.delivery.connection.Connection.deliver_async` must write it), or None when the
plain path applies. :func:`deliver_async` is the awaited counterpart. ``deliver`` tests cheap
attributes before calling in, so a plain broadcast to a plain member never comes here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..codec.msgpack_frames import MSGPACK
from . import entities, keyed_groups, msgpack_send

if TYPE_CHECKING:
    from .connection import Connection, Tally
    from .prepared import Broadcast

__all__ = ["deliver_async", "deliver_features", "deliver_stream"]


def deliver_stream(
    connection: Connection, broadcast: Broadcast, tally: Tally | None
) -> bool | None:
    """Write a group-stream frame at once; None: not a stream frame for this member."""
    stream, outbox = broadcast.stream, connection.outbox
    assert stream is not None
    if not outbox.direct or (connection._batch is not None and connection._batch.size > 0):
        return False
    frame = stream.frame_for(connection, broadcast)
    if frame is None:
        return None
    if not outbox.write_frame(frame[0]):
        return False
    if tally is None:
        connection._count(broadcast.encoded.event, frame[2], len(frame[1]), True, None)
    else:
        tally[frame[2], len(frame[1]), True] += 1
    if connection.encoding == MSGPACK:  # bytes per encoding: a msgpack stream's frames too
        msgpack_send.count(connection, 1, frame[2], len(frame[1]))
    return True


def deliver_features(
    connection: Connection, broadcast: Broadcast, tally: Tally | None
) -> bool | None:
    """Write a keyed frame or an entity frame, or queue a batched broadcast (steps 2 to 4)."""
    if (
        broadcast.keyed is not None
        and connection.keyed is not None
        and connection.codec is not None
    ):
        if connection._batch_pending() or connection.deflate:
            return False
        written = keyed_groups.deliver(connection, broadcast, tally)
        if written is not None:
            return written
    if broadcast.batch and broadcast.flusher is not None and connection._queue_broadcast(broadcast):
        return True
    if connection.entities is not None and broadcast.keyed is None and connection.codec is not None:
        return entities.deliver(connection, broadcast, tally)
    return None


async def deliver_async(connection: Connection, broadcast: Broadcast, tally: Tally | None) -> bool:
    """The awaited path of steps 1, 2 and 4; False: the broadcast goes as a plain event."""
    stream = broadcast.stream
    if stream is not None and connection.stream_mode:
        frame = stream.frame_for(connection, broadcast)
        if frame is not None:
            await connection.flush_batch(push=True)
            await connection._write(frame[1], True)
            connection._count(broadcast.encoded.event, frame[2], len(frame[1]), True, tally)
            if connection.encoding == MSGPACK:  # bytes per encoding (msgpack_send)
                msgpack_send.count(connection, 1, frame[2], len(frame[1]))
            return True
    if broadcast.keyed is not None and connection.keyed is not None:
        if await keyed_groups.deliver_async(connection, broadcast, tally):
            return True
    if connection.entities is not None and broadcast.keyed is None and connection.codec is not None:
        return await entities.deliver_async(connection, broadcast, tally)
    return False
