"""Entity references (protocol section 3.4): codec properties and the hub's fan-out.

Whatever happens (entities changing, members joining late, members missing broadcasts, tables
evicting, resyncs), every frame a member gets resolves against what its client holds and
rebuilds exactly what a v1 client receives.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import weakref
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from reznet_ws.codec import Codec
from reznet_ws.codec.entities import (
    EntityError,
    EntityRules,
    EntityTable,
    entity_frame,
    resolve_frame,
    split_entities,
    table_rows,
)
from reznet_ws.delivery.connection import Connection
from reznet_ws.delivery.hub import Hub
from reznet_ws.encoding import EncodedEvent, codec_for, default_field_map

from .test_codec_properties import JSON, examples
from .test_keyed_hub_properties import RecordingOutbox as KeyedOutbox
from .test_keyed_hub_properties import fanout, recording_member

pytestmark = pytest.mark.timeout(300)

RULES = {"author": "author_id", "agent": "id"}


class ClientSide:
    """What a client does with the frames of one connection (tests/js does the same in JS)."""

    def __init__(self, codec: Codec, max_entries: int) -> None:
        self.codec, self.table = codec, EntityTable(max_entries)

    def data(self, frame: dict[str, Any]) -> object:
        value = resolve_frame(frame, self.table) if "t" in frame else frame["d"]
        return self.codec.decode_data(value)


@st.composite
def entity(draw: st.DrawFn) -> dict[str, Any]:
    """An author profile from a small pool of ids, whose other members change now and then."""
    ident = draw(st.sampled_from(["u1", "u2", "u3", 7, 8]))
    profile: dict[str, Any] = {"author_id": ident, "name": draw(st.sampled_from(["Ann", "Bo"]))}
    if draw(st.booleans()):
        profile["extra"] = draw(JSON)
    if draw(st.integers(0, 3)) == 0:
        profile = {"name": "first", **profile}  # another member order: another value
    return profile


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    """A chat message with entities at several depths, and data that looks like references."""
    data: dict[str, Any] = {"text": draw(JSON), "author": draw(entity())}
    if draw(st.booleans()):
        data["reply_to"] = {"author": draw(entity()), "~": "author:u1"}
    if draw(st.booleans()):
        data["mentions"] = [{"author": draw(entity())} for _ in range(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        data["agent"] = {"id": draw(st.sampled_from([1, 2, True, None, "x"])), "s": draw(JSON)}
    if draw(st.booleans()):
        data["author"] = draw(st.sampled_from([None, "u1", {"name": "no id"}, [1]]))
    return data


def v1(codec: Codec, data: object) -> str:
    return json.dumps(json.loads(codec.encode_v1("m", data))["data"])


@examples(200)
@given(st.lists(st.tuples(message(), st.integers(0, 9)), min_size=1, max_size=12))
def test_a_stream_of_frames_rebuilds_every_message(steps: list[tuple[Any, int]]) -> None:
    codec = Codec(default_field_map())
    rules = EntityRules(RULES, codec.field_map, 200)
    server, client = EntityTable(3), ClientSide(codec, 3)
    for data, choice in steps:
        if choice == 0:
            server.clear()  # a resync: the server defines everything again
        parts = split_entities(json.loads(codec.encode_data(data)), rules)
        if parts is None:
            frame_text = codec.event_frame("m", codec.encode_data(data))
        else:
            missing = server.missing(parts.entities)
            if choice == 1:  # every one defined again: also fine
                missing = tuple(range(len(parts.entities)))
            ratio = 0.0 if choice == 2 else 0.8  # whole values only, or changes where smaller
            rows = table_rows(parts.entities, missing, server.items, ratio)
            frame_text = entity_frame(codec, "m", parts.data, rows)
            server.store([parts.entities[i] for i in missing])
        received = client.data(json.loads(frame_text))
        assert json.dumps(received) == v1(codec, data)
        held = client.table.items  # a superset after a resync: never less than the server's
        for ref, text in server.items.items():
            assert json.dumps(held[ref]) == json.dumps(json.loads(text))


def test_data_that_looks_like_a_reference_is_escaped() -> None:
    codec = Codec(default_field_map())
    text = codec.encode_data({"x": {"~": "author:u1"}})
    rules = EntityRules(RULES, codec.field_map, 200)
    assert split_entities(json.loads(text), rules) is None
    assert '"~~"' in text


def test_an_unknown_reference_raises_and_the_table_is_still_stored() -> None:
    table = EntityTable(2)
    frame = {"t": [["author:a", {"n": 1}]], "d": [{"~": "author:a"}, {"~": "author:b"}]}
    with pytest.raises(EntityError):
        resolve_frame(frame, table)
    assert table.items == {"author:a": {"n": 1}}
    with pytest.raises(EntityError):
        resolve_frame({"t": [["a"]], "d": 1}, table)


def test_the_oldest_definition_goes_first() -> None:
    table = EntityTable(2)
    table.store([("a", "1"), ("b", "2")])
    table.store([("a", "3"), ("c", "4")])
    assert list(table.items) == ["a", "c"] and table.evicted == 1
    assert table.missing([("a", "3"), ("b", "2"), ("c", "5")]) == (1, 2)


# ------------------------------------------------------------------ the hub's fan-out


class RecordingOutbox(KeyedOutbox):
    """A :class:`KeyedOutbox` that also takes the awaited sends of a deflate connection."""

    async def send(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        self.frames.append(json.loads(gzip.decompress(message["bytes"]) if text is None else text))

    push = send


def member(
    max_entries: int, deflate: bool = False
) -> tuple[Connection, RecordingOutbox, ClientSide]:
    outbox = RecordingOutbox()
    connection = recording_member(outbox)
    connection.deflate = deflate  # permessage-deflate: the awaited path, no prepared frames
    connection.entities = EntityTable(max_entries)
    return connection, outbox, ClientSide(codec_for(default_field_map()), max_entries)


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Broadcasts and own sends of messages with entities, joins, missed frames, resyncs."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["broadcast", "broadcast", "send", "join", "drop", "resync"]))
        if kind in ("broadcast", "send"):
            ops.append((kind, draw(message()), draw(st.integers(0, 7))))
        else:
            ops.append((kind, draw(st.integers(0, 7))))
    return ops


@examples(120)
@given(operations(), st.integers(1, 4))
def test_every_member_resolves_every_frame_it_receives(ops: list[Any], size: int) -> None:
    config = {"ENTITIES": RULES, "ENTITY_MAX_COUNT": size}
    with override_settings(REZNET_WS=config):
        asyncio.run(_run(ops, size))


async def _run(ops: list[tuple[Any, ...]], size: int) -> None:
    codec = codec_for(default_field_map())
    hub = Hub(object())
    members = [member(size)]
    hub.groups["g"] = weakref.WeakSet([members[0][0]])
    for op in ops:
        if op[0] == "join":
            members.append(member(size, deflate=len(members) % 2 == 1))
            hub.groups["g"].add(members[-1][0])
        elif op[0] == "drop":
            members[op[1] % len(members)][1].full = True
        elif op[0] == "resync":
            table = members[op[1] % len(members)][0].entities
            assert table is not None
            table.clear()
        elif op[0] == "send":
            connection, outbox, client = members[op[2] % len(members)]
            await connection.send_event(EncodedEvent("m", op[1]))
            assert json.dumps(client.data(outbox.frames[-1])) == v1(codec, op[1])
        else:
            await _broadcast(hub, codec, op[1], members)


async def _broadcast(hub: Hub, codec: Codec, data: Any, members: list[Any]) -> None:
    await fanout(hub, "m", data, "entities")
    for _connection, outbox, client in members:
        if outbox.full:  # it missed this one: nothing was written, nothing changed
            outbox.full = False
            continue
        assert json.dumps(client.data(outbox.frames[-1])) == v1(codec, data)


def test_a_broadcast_defines_once_then_refers_and_a_joiner_gets_the_definition() -> None:
    with override_settings(REZNET_WS={"ENTITIES": RULES}):
        asyncio.run(_joiner())


async def _joiner() -> None:
    codec = codec_for(default_field_map())
    hub = Hub(object())
    members = [member(8), member(8)]
    hub.groups["g"] = weakref.WeakSet([m[0] for m in members])
    profile = {"author_id": "u1", "name": "Ann", "bio": "x" * 200}
    await _broadcast(hub, codec, {"text": "a", "author": profile}, members)
    first = [m[1].frames[-1] for m in members]
    assert [f["t"][0][0] for f in first] == ["author:u1", "author:u1"]
    await _broadcast(hub, codec, {"text": "b", "author": profile}, members)
    second = [m[1].frames[-1] for m in members]
    assert [f["t"] for f in second] == [[], []]
    assert len(json.dumps(second[0])) + 150 < len(json.dumps(first[0]))
    members.append(member(8))
    hub.groups["g"].add(members[-1][0])
    await _broadcast(hub, codec, {"text": "c", "author": profile}, members)
    assert [len(m[1].frames[-1]["t"]) for m in members] == [0, 0, 1]
    changed = {**profile, "name": "Annie"}
    await _broadcast(hub, codec, {"text": "d", "author": changed}, members)
    rows = [m[1].frames[-1]["t"] for m in members]
    assert rows == [[["author:u1", None, [["n", "Annie"]]]]] * 3  # a change, not a copy
