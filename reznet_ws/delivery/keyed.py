"""Keyed events: the last version per key and delivery stream, deltas, and their delivery.

A *stream* is where versions of a key are numbered: a connection (``send_event(..., key=)``) or a
group in one process (``broadcast(..., key=)``: the hub keeps one :class:`KeyedStreams` per
process and computes each broadcast's delta once, whatever the number of members; see
:mod:`.keyed_groups`). Each process numbers its own group streams. A client holds, per key, the
last keyed frame it received; a connection gets a delta only when the last frame of that key it
was sent (:attr:`Connection.keyed_seen`) is the version right before, and the full object
otherwise: after it joined, after it missed a broadcast, after either side evicted the key,
after the other stream of the same key sent it a version.

Both sides bound what they hold (``DELTA_MAX_KEYS`` keys and ``DELTA_MAX_BYTES`` bytes of DATA per
stream owner, least recently used first out). Frames are counted in the stats as
``delta_frames``, ``delta_full`` (also per event), ``delta_bytes_saved``, ``delta_resync`` and
``delta_evicted``.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..codec.delta import (
    RESYNC_EVENT,
    checked_diff,
    delta_frame,
    dump_ops,
    keyed_frame,
    new_epoch,
)
from ..conf import get_config
from ..stats import get_recorder

if TYPE_CHECKING:
    from ..encoding import EncodedEvent
    from .connection import Connection

__all__ = ["KeyedStreams", "Step", "holds", "mark", "resync", "send_keyed"]

try:  # parsing back the DATA text is on the keyed path: orjson when it is there
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - the stdlib gives the same values
    _orjson_loads = _orjson_dumps = None  # type: ignore[assignment]

_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value: object) -> object:
    # Strict JSON text of a parsed value (1, 1.0, true and -0.0 differ; member order kept).
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(value)
        except TypeError:  # beyond 64-bit integers, lone surrogates
            pass
    return _json_dumps(value).encode("utf-8", "surrogatepass")


#: A run of 19 digits or more: perhaps an integer past 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"\d{19}")


def _loads(text: str) -> Any:
    # orjson reads integers past 64 bits as floats (or refuses them), and refuses escaped lone
    # surrogates: json reads those exactly. Texts with long digit runs go to json at once.
    if _orjson_loads is not None and _LONG_DIGITS.search(text) is None:
        try:
            return _orjson_loads(text)
        except ValueError:
            pass
    return json.loads(text)


class Step:
    """One update of a key in one stream: its version, full DATA text and delta text."""

    __slots__ = ("current", "data", "epoch", "key", "ops", "previous", "same_event", "version")

    def __init__(
        self, key: str, version: int, epoch: str, data: str, ops: str | None, same_event: bool
    ) -> None:
        self.key, self.version, self.epoch, self.data, self.ops = key, version, epoch, data, ops
        self.same_event = same_event
        #: What a receiver holds before and after this step: (stream, version).
        self.previous, self.current = (epoch, version - 1), (epoch, version)

    def full_frame(self, codec: Codec, event: str) -> str:
        """Return the full keyed frame of this step."""
        return keyed_frame(codec, event, self.key, self.version, self.epoch, self.data)

    def delta_frame(self, codec: Codec, event: str) -> str | None:
        """Return the delta frame of this step, or None when only the full object goes."""
        if self.ops is None:
            return None
        name = None if self.same_event else event  # the receiver knows it from version N-1
        return delta_frame(codec, name, self.key, self.version, self.ops)


class _State:
    # The last version of a key: the DATA value (for diffs) and its text (checks, copies).
    __slots__ = ("epoch", "event", "since_full", "size", "text", "value", "version")

    def __init__(
        self, epoch: str, version: int, value: object, text: str, since: int, event: str
    ) -> None:
        self.epoch, self.version, self.value, self.text = epoch, version, value, text
        self.size, self.since_full, self.event = len(text), since, event


class KeyedStreams:
    """The last DATA value per (stream, key), bounded in keys and bytes (LRU)."""

    def __init__(self, max_keys: int, max_bytes: int, full_every: int, max_ratio: float) -> None:
        self.max_keys, self.max_bytes = max_keys, max_bytes
        self.full_every, self.max_ratio = full_every, max_ratio
        self.bytes = 0
        self.evicted = 0
        self._items: OrderedDict[tuple[Hashable, str], _State] = OrderedDict()

    @classmethod
    def from_settings(cls) -> KeyedStreams:
        """Return streams bounded by ``DELTA_MAX_KEYS`` / ``DELTA_MAX_BYTES`` and so on."""
        config = get_config()
        return cls(
            config["DELTA_MAX_KEYS"],
            config["DELTA_MAX_BYTES"],
            config["DELTA_FULL_EVERY"],
            config["DELTA_MAX_RATIO"],
        )

    def __len__(self) -> int:
        return len(self._items)

    def advance(self, stream: Hashable, key: str, data: str, event: str) -> Step:
        """Record ``data`` (DATA text) as the next version of ``key``; return the step.

        The step carries a delta unless the key is new here (or was evicted), the delta is not
        ``max_ratio`` times smaller than the full object, or ``full_every`` deltas went since
        the last full object.
        """
        value = _loads(data)
        size = len(data)
        state = self._items.pop((stream, key), None)
        ops = None
        if state is None:
            epoch, version, since = new_epoch(), 1, 0
        else:
            self.bytes -= state.size
            epoch, version, since = state.epoch, state.version + 1, state.since_full + 1
            if not self.full_every or since <= self.full_every:
                ops = dump_ops(checked_diff(state.value, value, _loads(state.text), _dumps))
                if len(ops) >= size * self.max_ratio:
                    ops = None
            if ops is None:
                since = 0
        if size <= self.max_bytes:
            self._items[stream, key] = _State(epoch, version, value, data, since, event)
            self.bytes += size
            self._evict()
        same_event = state is not None and state.event == event
        return Step(key, version, epoch, data, ops, same_event)

    def _evict(self) -> None:
        while len(self._items) > self.max_keys or self.bytes > self.max_bytes:
            _, state = self._items.popitem(last=False)
            self.bytes -= state.size
            self.evicted += 1
            get_recorder().record_delta_evicted()

    def clear_group(self, group: str) -> None:
        """Forget every key of ``group``'s streams (it has no local member any more)."""
        gone = [item for item in self._items if type(item[0]) is tuple and item[0][0] == group]
        for item in gone:
            self.bytes -= self._items.pop(item).size


# ------------------------------------------------------------------------ send_event


async def send_keyed(
    connection: Connection, encoded: EncodedEvent, key: str, data: str, push: bool = False
) -> None:
    """Send ``encoded`` under ``key`` on a connection that negotiated deltas (its own stream)."""
    streams = connection.keyed
    assert streams is not None and connection.codec is not None
    codec, event = connection.codec, encoded.event
    step = streams.advance("", key, data, event)
    is_delta = step.ops is not None and holds(connection, key, step.previous)
    text = step.delta_frame(codec, event) if is_delta else step.full_frame(codec, event)
    await connection.flush_batch(push=push)
    # -- reznet.v2.msgpack: the same frame, packed (msgpack_send.keyed_payload) --
    if connection.encoding == "msgpack":
        from .msgpack_send import keyed_payload

        payload = keyed_payload(connection, text, encoded.v1_size(codec))  # type: ignore[arg-type]
        compressed = False
    else:
        payload, compressed = codec.finalize(text, allow_gzip=not connection.deflate)  # type: ignore[arg-type]
    # -- end reznet.v2.msgpack --
    mark(connection, key, step.current, streams.max_keys)
    await connection._write(payload, push)
    size = _size(payload)
    recorder = get_recorder()
    recorder.record_message(event, encoded.v1_size(codec), size, compressed, log=False)
    if is_delta:
        full = len(step.full_frame(codec, event))
        sent = len(text or "") if connection.encoding == "msgpack" else size  # saved, in JSON
        recorder.record_delta(event, 1, 0, max(full - sent, 0))
    else:
        recorder.record_delta(event, 0, 1, 0)


def holds(connection: Connection, key: str, version: tuple[str, int]) -> bool:
    """Return True when the last frame of ``key`` sent on ``connection`` was ``version``.

    Versions are ``(stream, N)``: a client holds, per key, the last frame it received, from
    whichever stream (a connection's own, or a group's) it came.
    """
    held = connection.keyed_seen.get(key)
    if held is None and connection.keyed_claims:  # a reconnected client (``reznet_have``)
        held = connection.keyed_claims.get(key)
    return held == version


def mark(connection: Connection, key: str, version: tuple[str, int], max_keys: int) -> None:
    """Note that the last frame of ``key`` sent on ``connection`` is ``version``."""
    seen = connection.keyed_seen
    seen[key] = version
    if len(seen) > max_keys:
        del seen[next(iter(seen))]


def _size(payload: str | bytes) -> int:
    if isinstance(payload, bytes) or payload.isascii():
        return len(payload)
    return len(payload.encode("utf-8"))


def resync(connection: Connection, content: Any) -> bool:
    """Handle a client's ``reznet.resync`` message; return False when it is not one.

    Called for every decoded client message of a connection that negotiated deltas. The keys
    listed (at most ``DELTA_MAX_KEYS``) get their next update as a full object, counted as
    ``delta_resync``. With ``"entities": true`` the client reports an entity reference it
    could not resolve: the connection's entity table is cleared, so every entity is defined
    again when next sent (``entity_resync``).
    """
    if type(content) is not dict or content.get("event") != RESYNC_EVENT:
        return False
    streams = connection.keyed
    data = content.get("data")
    if type(data) is dict and data.get("entities") is True and connection.entities is not None:
        connection.entities.clear()  # a reference the client could not resolve: define anew
        get_recorder().record_entity_resync()
    keys = data.get("keys") if type(data) is dict else None
    if streams is None or type(keys) is not list:
        return streams is not None
    wanted = [key for key in keys[: streams.max_keys] if type(key) is str]
    for key in wanted:  # the next frame of each is a full object, from whichever stream
        connection.keyed_seen.pop(key, None)
        connection.keyed_claims.pop(key, None)
    get_recorder().record_delta_resync(len(wanted))
    return True
