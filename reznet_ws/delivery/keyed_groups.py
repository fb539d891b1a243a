"""Keyed broadcasts in one process: one diff per broadcast, a dict lookup per member.

The hub makes a :class:`GroupKeyed` for each keyed broadcast (:func:`group_keyed`). Its step (the
diff against the group's last version in this process) and its frames are computed once per
encoding; each member then gets the delta frame when it holds the previous version (see
:func:`~.keyed.holds`) and the full frame otherwise, both written as prepared frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..conf import get_config
from ..stats import get_recorder
from .keyed import KeyedStreams, Step, holds, mark
from .msgpack_send import count, keyed_prepared
from .prepared import ws_frame

if TYPE_CHECKING:
    from .connection import Connection, Tally
    from .prepared import Broadcast

__all__ = ["GroupKeyed", "deliver", "deliver_async", "group_keyed"]


class _Prepared:
    """One encoding of a keyed broadcast: texts, prepared frames and what a member needs."""

    __slots__ = ("current", "delta", "delta_text", "full", "full_text", "previous", "saved")
    current: tuple[str, int]
    previous: tuple[str, int]

    def __init__(
        self, step: Step, codec: Codec, event: str, allow_gzip: bool, original: int, encoding: str
    ):
        self.full_text: str | bytes = step.full_frame(codec, event)
        self.delta_text: str | bytes | None = step.delta_frame(codec, event)
        if encoding == "msgpack":  # reznet.v2.msgpack: the same frames, packed once (or JSON)
            self.full_text = keyed_prepared(codec, self.full_text)  # type: ignore[arg-type]
            if self.delta_text is not None:
                self.delta_text = keyed_prepared(codec, self.delta_text)  # type: ignore[arg-type]
        self.full = _prepare(codec, self.full_text, allow_gzip, original)
        self.delta = (
            None
            if self.delta_text is None
            else _prepare(codec, self.delta_text, allow_gzip, original)
        )
        self.saved = 0 if self.delta is None else self.full[1][1] - self.delta[1][1]
        self.previous, self.current = step.previous, step.current


def _prepare(
    codec: Codec, text: str | bytes, allow_gzip: bool, original: int
) -> tuple[bytes, tuple[int, int, bool]]:
    # (websocket frame, the hub's tally key: original v1 size, payload size, compressed)
    payload, compressed = _finalize(codec, text, allow_gzip)
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    return ws_frame(raw, isinstance(payload, bytes)), (original, len(raw), compressed)


class GroupKeyed:
    """A keyed broadcast in one process: its step (one diff) and frames, once per encoding.

    Per member only a dict lookup decides between the delta and the full frame.
    """

    __slots__ = ("_prepared", "_steps", "deltas", "fulls", "group", "key", "saved")

    def __init__(self, streams: KeyedStreams, group: str, key: str) -> None:
        self.group, self.key = group, key
        self._steps: tuple[KeyedStreams, dict[int, Step]] = (streams, {})
        self._prepared: dict[tuple[int, bool, str], _Prepared | None] = {}
        self.fulls = self.deltas = self.saved = 0

    def record(self, event: str) -> None:
        """Called by the hub once per broadcast, after every member: one stats call."""
        if self.fulls or self.deltas:
            get_recorder().record_delta(event, self.deltas, self.fulls, self.saved)

    def prepared(
        self, broadcast: Broadcast, codec: Codec, allow_gzip: bool, encoding: str = "json"
    ) -> _Prepared | None:
        """Return this broadcast's frames for one encoding; None when it cannot be optimized."""
        allow_gzip = allow_gzip and encoding != "msgpack"  # MessagePack connections never gzip
        cache_key = (id(codec), allow_gzip, encoding)
        try:
            return self._prepared[cache_key]
        except KeyError:
            pass
        encoded = broadcast.encoded
        optimize = broadcast.optimize and get_config()["OPTIMIZE"]
        data = encoded.v2_data_text(codec) if optimize else None
        result = None
        if data is not None:
            streams, steps = self._steps
            step = steps.get(id(codec))
            if step is None:  # one advance per codec, whatever the gzip setting
                stream = (self.group, id(codec))
                step = steps[id(codec)] = streams.advance(stream, self.key, data, encoded.event)
            original = encoded.v1_size(codec)
            result = _Prepared(step, codec, encoded.event, allow_gzip, original, encoding)
        self._prepared[cache_key] = result
        return result

    def choose(self, connection: Connection, ready: _Prepared) -> bool:
        """Return True when ``connection`` holds the previous version (it gets the delta)."""
        return ready.delta is not None and holds(connection, self.key, ready.previous)

    def sent(self, connection: Connection, ready: _Prepared, is_delta: bool) -> None:
        """Note that ``connection`` now holds this version, and count the frame."""
        mark(connection, self.key, ready.current, self._steps[0].max_keys)
        if is_delta:
            self.deltas += 1
            self.saved += ready.saved
        else:
            self.fulls += 1


def deliver(connection: Connection, broadcast: Broadcast, tally: Tally | None) -> bool | None:
    """Write a keyed broadcast as a prepared frame; False: use :func:`deliver_async`.

    Returns None when the broadcast cannot be optimized (the caller sends it as usual).
    """
    keyed: GroupKeyed = broadcast.keyed
    ready = keyed.prepared(broadcast, connection.codec, True, connection.encoding)  # type: ignore[arg-type]
    if ready is None:
        return None
    is_delta = keyed.choose(connection, ready)
    frame, counted = ready.delta if is_delta else ready.full  # type: ignore[misc]
    if not connection.outbox.write_frame(frame):
        return False
    keyed.sent(connection, ready, is_delta)
    _tally(broadcast, counted, tally)
    if connection.encoding == "msgpack":  # bytes per encoding (msgpack_send)
        count(connection, 1, counted[0], counted[1])
    return True


async def deliver_async(connection: Connection, broadcast: Broadcast, tally: Tally | None) -> bool:
    """The awaited path of a keyed broadcast; False when it cannot be optimized."""
    keyed: GroupKeyed = broadcast.keyed
    allow_gzip = not connection.deflate and connection.encoding != "msgpack"
    ready = keyed.prepared(broadcast, connection.codec, allow_gzip, connection.encoding)  # type: ignore[arg-type]
    if ready is None:
        return False
    is_delta = keyed.choose(connection, ready)
    text = ready.delta_text if is_delta else ready.full_text
    counted = (ready.delta if is_delta else ready.full)[1]  # type: ignore[index]
    await connection.flush_batch(push=True)
    payload, _ = _finalize(connection.codec, text, allow_gzip)  # type: ignore[arg-type]
    keyed.sent(connection, ready, is_delta)
    await connection._write(payload, True)
    _tally(broadcast, counted, tally)
    if connection.encoding == "msgpack":  # bytes per encoding (msgpack_send)
        count(connection, 1, counted[0], counted[1])
    return True


def _finalize(codec: Codec, text: str | bytes, allow_gzip: bool) -> tuple[str | bytes, bool]:
    # A packed MessagePack frame (bytes) goes as it is; JSON text as Codec.finalize makes it.
    if isinstance(text, bytes):
        return text, False
    return codec.finalize(text, allow_gzip=allow_gzip)


def _tally(broadcast: Broadcast, counted: tuple[int, int, bool], tally: Tally | None) -> None:
    if tally is not None:
        tally[counted] += 1
    else:
        get_recorder().record_message(broadcast.encoded.event, *counted, 1, False)


def group_keyed(hub: Any, group: str, key: object) -> GroupKeyed | None:
    """Return the state of one keyed broadcast to ``group`` in this process (called by the hub).

    The hub's streams (``hub.keyed``) are made on first use, bounded by ``DELTA_GROUP_MAX_KEYS``
    and ``DELTA_GROUP_MAX_BYTES``. None for a key that is not a string (a hand-made message).
    """
    if type(key) is not str:
        return None
    if hub.keyed is None:
        config = get_config()
        hub.keyed = KeyedStreams(
            config["DELTA_GROUP_MAX_KEYS"],
            config["DELTA_GROUP_MAX_BYTES"],
            config["DELTA_FULL_EVERY"],
            config["DELTA_MAX_RATIO"],
        )
    return GroupKeyed(hub.keyed, group, key)
