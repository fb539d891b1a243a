"""Entity references on the server: which entities each connection holds, and their frames.

Only connections that negotiated ``delta`` (protocol section 3.2) and only when ``ENTITIES`` is
set: such a connection has an :class:`~reznet_ws.codec.entities.EntityTable` in
:attr:`Connection.entities`, mirroring exactly what its client holds (protocol section 3.4). An
event whose DATA holds entities goes as an entity frame: every entity as a reference, and in the
frame's table the definitions the client does not hold with that very value. The table is
updated when the frame is written, as the client updates its own when it reads it, so the two
never disagree and no reference is ever sent that the client cannot resolve.

A broadcast is split once per process and codec (:class:`BroadcastEntities`); its frames are
built once per set of missing definitions (in practice two: none missing, all missing) and
written to every member as prepared frames.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..codec.entities import (
    EntityRules,
    EntityTable,
    Split,
    entity_frame,
    split_entities,
    table_rows,
)
from ..conf import get_config
from ..stats import get_recorder
from .prepared import ws_frame

if TYPE_CHECKING:
    from ..encoding import EncodedEvent
    from .connection import Connection, Tally
    from .prepared import Broadcast

__all__ = ["BroadcastEntities", "deliver", "deliver_async", "new_table", "rules_for", "send"]

_rules: dict[int, tuple[object, Codec, EntityRules | None]] = {}


def new_table() -> EntityTable | None:
    """Return a connection's table, or None when ``ENTITIES`` declares no entity."""
    config = get_config()
    return EntityTable(config["ENTITY_MAX_COUNT"]) if config["ENTITIES"] else None


def rules_for(codec: Codec) -> EntityRules | None:
    """Return the ``ENTITIES`` rules in ``codec``'s written names (cached per settings)."""
    config = get_config()
    cached = _rules.get(id(codec))
    if cached is not None and cached[0] is config and cached[1] is codec:
        return cached[2]
    rules = None
    if config["ENTITIES"]:
        rules = EntityRules(config["ENTITIES"], codec.field_map, config["ENTITY_MAX_SIZE"])
    if len(_rules) > 64:
        _rules.clear()
    _rules[id(codec)] = (config, codec, rules)
    return rules


def split(codec: Codec, data_text: str) -> Split | None:
    """Return the DATA text split into references and entities; None when it holds none."""
    rules = rules_for(codec)
    if rules is None or not rules.may_hold(data_text):
        return None
    return split_entities(json.loads(data_text), rules)


async def send(
    connection: Connection, encoded: EncodedEvent, data_text: str, push: bool, tally: Tally | None
) -> bool:
    """Send an event with references on ``connection``; False when its DATA holds no entity."""
    table, codec = connection.entities, connection.codec
    assert table is not None and codec is not None
    parts = split(codec, data_text)
    if parts is None:
        return False
    await connection.flush_batch(push=push)
    # From here to the write nothing awaits: no other frame can come between the table the
    # frame is made for, the table's update and the frame's place in the outbox.
    missing = table.missing(parts.entities)
    rows = table_rows(parts.entities, missing, table.items, get_config()["DELTA_MAX_RATIO"])
    text = entity_frame(codec, encoded.event, parts.data, rows)
    payload, compressed = codec.finalize(text, allow_gzip=not connection.deflate)
    table.store([parts.entities[i] for i in missing])
    await connection._write(payload, push)
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))
    connection._count(encoded.event, encoded.v1_size(codec), size, compressed, tally)
    saved = _saved(codec, encoded.event, data_text, text)
    get_recorder().record_entities(parts.refs, len(missing), saved, _evicted(table))
    return True


def _saved(codec: Codec, event: str, data_text: str, text: str) -> int:
    return max(len(codec.event_frame(event, data_text)) - len(text), 0)


def _evicted(table: EntityTable) -> int:
    evicted, table.evicted = table.evicted, 0
    return evicted


class BroadcastEntities:
    """One broadcast's split (once per codec) and frames (once per set of missing entities)."""

    __slots__ = ("_frames", "_splits", "defined", "evicted", "refs", "saved")

    def __init__(self) -> None:
        self._splits: dict[int, Split | None] = {}
        self._frames: dict[tuple[Any, ...], tuple[str, bytes, Any, int]] = {}
        self.refs = self.defined = self.saved = self.evicted = 0

    def parts(self, broadcast: Broadcast, codec: Codec) -> Split | None:
        """Return the broadcast's split for ``codec``; None: it goes as usual."""
        try:
            return self._splits[id(codec)]
        except KeyError:
            pass
        result = None
        if broadcast.optimize and get_config()["OPTIMIZE"] and not broadcast.batch:
            data = broadcast.encoded.v2_data_text(codec)
            result = None if data is None else split(codec, data)
        self._splits[id(codec)] = result
        return result

    def frame(
        self,
        broadcast: Broadcast,
        codec: Codec,
        parts: Split,
        missing: tuple[int, ...],
        table: EntityTable,
        gzip: bool,
    ) -> tuple[str, bytes, Any, int]:
        """Return ``(text, websocket frame, tally key, bytes saved)`` for a member's ``table``.

        Built once per set of missing entities and the values the member holds of them.
        """
        cache_key: tuple[Any, ...] = (id(codec), gzip, missing)
        if missing:
            held = table.items
            cache_key += tuple(held.get(parts.entities[i][0]) for i in missing)
        found = self._frames.get(cache_key)
        if found is None:
            encoded = broadcast.encoded
            ratio = get_config()["DELTA_MAX_RATIO"]
            rows = table_rows(parts.entities, missing, table.items, ratio)
            text = entity_frame(codec, encoded.event, parts.data, rows)
            payload, compressed = codec.finalize(text, allow_gzip=gzip)
            raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
            counted = (encoded.v1_size(codec), len(raw), compressed)
            data = encoded.v2_data_text(codec) or ""
            saved = _saved(codec, encoded.event, data, text)
            found = (text, ws_frame(raw, isinstance(payload, bytes)), counted, saved)
            self._frames[cache_key] = found
        return found

    def sent(self, table: EntityTable, parts: Split, missing: tuple[int, ...], saved: int) -> None:
        """Note what a member now holds (as its client will), and count the frame."""
        self.refs += parts.refs
        self.saved += saved
        if missing:
            table.store([parts.entities[i] for i in missing])
            self.defined += len(missing)
            self.evicted += _evicted(table)

    def record(self) -> None:
        """Called by the hub once per broadcast, after every member: one stats call."""
        if self.refs:
            get_recorder().record_entities(self.refs, self.defined, self.saved, self.evicted)


def _state(broadcast: Broadcast) -> BroadcastEntities:
    state = broadcast.entities
    if state is None:
        state = broadcast.entities = BroadcastEntities()
    return state  # type: ignore[no-any-return]


def deliver(connection: Connection, broadcast: Broadcast, tally: Tally | None) -> bool | None:
    """Write a broadcast with references as a prepared frame; None: it holds no entity.

    False: the caller uses :func:`deliver_async` (a batch is pending, permessage-deflate).
    """
    state, codec, table = _state(broadcast), connection.codec, connection.entities
    assert codec is not None and table is not None
    parts = state.parts(broadcast, codec)
    if parts is None:
        return None
    if connection._batch_pending() or connection.deflate:
        return False
    missing = table.missing(parts.entities)
    _, frame, counted, saved = state.frame(broadcast, codec, parts, missing, table, True)
    if not connection.outbox.write_frame(frame):
        return False
    state.sent(table, parts, missing, saved)
    _tally(connection, broadcast, counted, tally)
    return True


async def deliver_async(connection: Connection, broadcast: Broadcast, tally: Tally | None) -> bool:
    """The awaited path of a broadcast with references; False when it holds no entity."""
    state, codec, table = _state(broadcast), connection.codec, connection.entities
    assert codec is not None and table is not None
    parts = state.parts(broadcast, codec)
    if parts is None:
        return False
    allow_gzip = not connection.deflate
    await connection.flush_batch(push=True)
    missing = table.missing(parts.entities)  # after the flush: nothing else is written between
    text, _, counted, saved = state.frame(broadcast, codec, parts, missing, table, allow_gzip)
    payload, _ = codec.finalize(text, allow_gzip=allow_gzip)
    state.sent(table, parts, missing, saved)
    await connection._write(payload, True)
    _tally(connection, broadcast, counted, tally)
    return True


def _tally(connection: Connection, broadcast: Broadcast, counted: Any, tally: Tally | None) -> None:
    if tally is not None:
        tally[counted] += 1
    else:
        original, size, compressed = counted
        connection._count(broadcast.encoded.event, original, size, compressed, None)
