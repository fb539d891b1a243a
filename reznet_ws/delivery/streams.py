"""Group streams on the server: one compressor per (hub, group, field map, stream codec).

Members that negotiated zstd streams (``reznet_features=stream,stream-zstd``, ``STREAM_ZSTD`` on
and ``zstandard`` installed) share a zstd stream, the others a deflate stream: two streams of
one group follow the same rules below, each on its own.

The hub calls :meth:`GroupStreams.begin` once per broadcast, before handing it to the members; a
member connection asks :meth:`GroupStreams.frame_for` for its frame. A member that is in the
stream gets the broadcast's stream frame (compressed once, the same ``bytes`` for every member);
any other member (joined since the epoch began, missed a frame, asked for a resync) gets its
ordinary frame and is *waiting*: the next epoch start takes it in. An epoch starts at a
broadcast when members wait and the epoch is ``STREAM_EPOCH_SECONDS`` old, or has carried
``STREAM_EPOCH_MESSAGES`` messages or ``STREAM_EPOCH_BYTES`` bytes of text.

A member is in a stream while ``connection.stream_epochs[stream id]`` equals the stream's
current epoch: starting an epoch takes everyone out at once (they all join again with its first
frame), and a member that misses a frame is taken out before the next one is compressed. So the
invariant of docs/protocol.md (3.3) holds by construction: a member in the stream has received
every frame of the stream since its epoch start, in order.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from ..codec.stream import (
    DEFLATE,
    RESYNC_EVENT,
    STREAM_FEATURE,
    STREAM_ZSTD_FEATURE,
    ZSTD,
    StreamEncoder,
    stream_features,
)
from ..conf import get_config
from ..stats import get_recorder
from . import msgpack_send
from .prepared import Broadcast, ws_frame

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "GroupStream",
    "GroupStreams",
    "StreamFrame",
    "handle_resync",
    "stream_codec",
    "stream_stats",
    "wants_stream",
]

#: ``(websocket frame, payload, original v1 size)`` of one broadcast in one stream.
StreamFrame = tuple[bytes, bytes, int]

_ids = itertools.count(1)
_live: weakref.WeakSet[GroupStream] = weakref.WeakSet()


def stream_stats() -> dict[str, int]:
    """Return this process's stream figures: streams, members in them, compressor bytes.

    ``zstd_streams`` and ``zstd_memory`` are the part of those figures held by zstd streams.
    """
    streams = [s for s in list(_live) if s.encoder.started]
    zstd = [s for s in streams if s.encoder.codec == ZSTD]
    return {
        "streams": len(streams),
        "stream_members": sum(s.joined for s in streams),
        "stream_memory": sum(s.encoder.memory() for s in streams),
        "zstd_streams": len(zstd),
        "zstd_memory": sum(s.encoder.memory() for s in zstd),
    }


def stream_codec(scope: Mapping[str, Any]) -> str | None:
    """Return the stream codec of a v2 connection: ``"zstd"``, ``"deflate"`` or None (none).

    zstd when the client lists ``stream`` and ``stream-zstd`` in ``reznet_features``,
    ``STREAM_ZSTD`` is not False and ``zstandard`` is installed; deflate when it lists ``stream``.
    """
    config = get_config()
    features = stream_features(scope.get("query_string"))
    if not config["STREAM_MODE"] or STREAM_FEATURE not in features:
        return None
    if STREAM_ZSTD_FEATURE in features and config["STREAM_ZSTD"] is not False:
        from ..codec.stream_zstd import zstd_available

        if zstd_available():
            return ZSTD
    return DEFLATE


def wants_stream(scope: Mapping[str, Any]) -> bool:
    """Return True when a v2 connection gets group streams (``reznet_features=stream``)."""
    return stream_codec(scope) is not None


def _encoder(stream: int, codec: str) -> StreamEncoder:
    config = get_config()
    if codec == ZSTD:
        from ..codec.stream_zstd import ZstdStreamEncoder

        level, window = config["STREAM_ZSTD_LEVEL"], config["STREAM_ZSTD_WINDOW_LOG"]
        return ZstdStreamEncoder(stream, level, window)
    return StreamEncoder(
        stream, config["STREAM_WINDOW_BITS"], config["STREAM_MEM_LEVEL"], config["STREAM_LEVEL"]
    )


def _streamable(broadcast: Broadcast) -> bool:
    # Batched and keyed broadcasts keep their own per-connection paths.
    return not broadcast.batch and broadcast.keyed is None


class GroupStream:
    """The stream of one group for the members of one field map, stream codec and encoding."""

    def __init__(
        self, clock: Callable[[], float], codec: str = DEFLATE, encoding: str = "json"
    ) -> None:
        self.id = next(_ids)
        self.encoder = _encoder(self.id, codec)
        #: The members' encoding: ``"msgpack"`` streams carry length-prefixed binary frames.
        self.encoding = encoding
        if encoding == "msgpack":
            self.encoder.terminator = b""
        self.clock = clock
        self.epoch_started = 0.0
        #: Whether a member asked for a broadcast while outside the stream.
        self.waiting = True
        #: Members that joined the current epoch and have not left (for the stats).
        self.joined = 0
        self._current: Broadcast | None = None
        self._streamable = self._starting = False
        self._frame: StreamFrame | None = None
        #: Members given the current broadcast's frame (for the stats), and members that asked.
        self.served = self.asked = 0
        self._askers: set[int] = set()
        _live.add(self)

    def frame_for(self, member: Connection, broadcast: Broadcast) -> StreamFrame | None:
        """Return ``member``'s stream frame of ``broadcast``; None: send the ordinary frame."""
        if broadcast is not self._current:
            self._next(broadcast)
        if id(member) not in self._askers:  # deliver() and then deliver_async() may both ask
            self._askers.add(id(member))
            self.asked += 1
        if not self._streamable:
            return None
        encoder = self.encoder
        if not encoder.started or member.stream_epochs.get(self.id) != encoder.epoch:
            if not self._starting:
                self.waiting = True
                return None
            member.stream_epochs[self.id] = encoder.epoch
            self.joined += 1
        self.served += 1
        return self._frame or self._build(member)

    def _next(self, broadcast: Broadcast) -> None:
        # The first member of a new broadcast: decide whether it starts an epoch. A stream needs
        # STREAM_MIN_MEMBERS members of its own (those that asked for the previous broadcast).
        self._current, self._frame, self.served = broadcast, None, 0
        previous, self.asked, self._askers = self.asked, 0, set()
        few = previous < get_config()["STREAM_MIN_MEMBERS"]
        if few and self.encoder.started:
            self.encoder.release()  # nobody is in the stream now; the memory is freed
            self.joined = 0
        self._streamable = _streamable(broadcast)
        self._starting = self._streamable and self.waiting and not few and self._epoch_due()
        if self._starting:
            self.encoder.start_epoch()  # every member's recorded epoch is now out of date
            self.epoch_started = self.clock()
            self.waiting = False
            self.joined = 0

    def _epoch_due(self) -> bool:
        config = get_config()
        if not self.encoder.started:  # a compressor to allocate: within STREAM_MAX_STREAMS
            return sum(1 for s in list(_live) if s.encoder.started) < config["STREAM_MAX_STREAMS"]
        return (
            self.clock() - self.epoch_started >= config["STREAM_EPOCH_SECONDS"]
            or self.encoder.epoch_messages >= config["STREAM_EPOCH_MESSAGES"]
            or self.encoder.epoch_bytes >= config["STREAM_EPOCH_BYTES"]
        )

    def _build(self, member: Connection) -> StreamFrame:
        broadcast = self._current
        assert broadcast is not None and member.codec is not None
        encoded, codec = broadcast.encoded, member.codec
        if self.encoding == "msgpack":  # reznet.v2.msgpack: its own frame, length first
            payload = self.encoder.encode(msgpack_send.stream_message(encoded, codec, broadcast))
            self._frame = (ws_frame(payload, True), payload, encoded.v1_size(codec))
            return self._frame
        text: str | bytes = encoded.v1_text(codec)  # the text Broadcast.frame() would send
        if broadcast.optimize and get_config()["OPTIMIZE"] and encoded.v2_data_text(codec):
            text = encoded.v2_frame(codec, False)[0]
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        payload = self.encoder.encode(raw)
        self._frame = (ws_frame(payload, True), payload, encoded.v1_size(codec))
        return self._frame

    def leave(self, member: Connection) -> bool:
        """Take ``member`` out of the stream (ordinary frames until the next epoch start)."""
        if member.stream_epochs.pop(self.id, None) != self.encoder.epoch:
            return False
        self.joined -= 1
        return True

    def release(self) -> None:
        """Free the compressor: nobody can decode the stream any more."""
        self.encoder.release()
        _live.discard(self)


class GroupStreams:
    """Every group stream of one hub, keyed by group, field map, stream codec and encoding."""

    #: The clock of epoch ages (a test seam).
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self.groups: dict[str, dict[tuple[int, str, str], GroupStream]] = {}
        self._current: dict[str, Broadcast] = {}
        self._by_id: weakref.WeakValueDictionary[int, GroupStream] = weakref.WeakValueDictionary()

    def begin(self, group: str, members: Collection[Connection], broadcast: Broadcast) -> None:
        """Called by the hub once per broadcast to ``group``, before any member gets it."""
        config = get_config()
        if not config["STREAM_MODE"] or len(members) < config["STREAM_MIN_MEMBERS"]:
            if group in self._current:
                self.discard(group)
            return
        self._current[group] = broadcast
        broadcast.stream, broadcast.group = self, group

    def _stream(self, member: Connection, group: str) -> GroupStream:
        streams = self.groups.get(group)
        if streams is None:
            streams = self.groups[group] = {}
        key = (id(member.codec), member.stream_codec, member.encoding)
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = GroupStream(self.clock, member.stream_codec, member.encoding)
            self._by_id[stream.id] = stream
        return stream

    def frame_for(self, member: Connection, broadcast: Broadcast) -> StreamFrame | None:
        """Return ``member``'s stream frame of ``broadcast``, or None for the ordinary frame.

        None as well for a broadcast that is not the group's latest (one that waited for the
        member's handshake): only the latest may enter the stream.
        """
        group = broadcast.group
        if self._current.get(group) is not broadcast:
            return None
        streams = self.groups.get(group)
        key = (id(member.codec), member.stream_codec, member.encoding)
        stream = streams.get(key) if streams else None
        if stream is None:
            stream = self._stream(member, group)
        return stream.frame_for(member, broadcast)

    def record(self, broadcast: Broadcast) -> None:
        """Called by the hub after ``broadcast`` went out: count its stream frames, once."""
        for stream in self.groups.get(broadcast.group, {}).values():
            frame = stream._frame
            if stream._current is broadcast and frame is not None and stream.served:
                n = stream.served
                codec = stream.encoder.codec
                get_recorder().record_stream(n, n * len(frame[0]), n * frame[2], codec)

    def missed(self, member: Connection, broadcast: Broadcast) -> None:
        """Called when ``member`` misses ``broadcast`` (a slow client): it leaves the stream."""
        self.leave(broadcast.group, member)
        self.wait(broadcast.group)

    def wait(self, group: str) -> None:
        """Called when a member joins ``group``: the next due broadcast starts an epoch."""
        for stream in self.groups.get(group, {}).values():
            stream.waiting = True

    def leave(self, group: str, member: Connection) -> None:
        """Called when ``member`` leaves ``group`` (or misses one of its broadcasts)."""
        for stream in self.groups.get(group, {}).values():
            stream.leave(member)

    def resync(self, member: Connection, stream_id: Any) -> bool:
        """A client asked to leave stream ``stream_id`` (it could not decode a frame).

        Returns True when ``member`` was in that stream; counted as ``error:stream_resync``.
        """
        stream = self._by_id.get(stream_id) if isinstance(stream_id, int) else None
        if stream is None or not stream.leave(member):
            return False
        stream.waiting = True
        get_recorder().record_error("stream_resync")
        return True

    def discard(self, group: str) -> None:
        """Called when ``group`` has no members left here (or too few): free its streams."""
        self._current.pop(group, None)
        for stream in self.groups.pop(group, {}).values():
            stream.release()


def handle_resync(layer: Any, connection: Connection, content: Any) -> bool:
    """Called for each client message of a stream connection; True when it was a resync request.

    ``{"event": "reznet_stream_resync", "data": {"stream": ID}}`` takes the connection out of
    stream ``ID`` of its hub: ordinary frames until the next epoch start takes it in again.
    """
    if not isinstance(content, dict) or content.get("event") != RESYNC_EVENT:
        return False
    from .hub import get_hub  # the hub imports this module

    data = content.get("data")
    stream_id = data.get("stream") if isinstance(data, dict) else None
    get_hub(layer).streams.resync(connection, stream_id)
    return True
