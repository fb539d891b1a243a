"""Prepared frames per encoding: a broadcast is packed once and framed as a binary message."""

from __future__ import annotations

import msgpack

from reznet_ws.codec import Codec
from reznet_ws.delivery.prepared import Broadcast, ws_frame
from reznet_ws.encoding import EncodedEvent

DATA = {"content": "hi", "created_at": "2025-10-25T12:00:00Z"}


def test_each_encoding_has_its_own_prepared_frame() -> None:
    codec = Codec()
    broadcast = Broadcast(EncodedEvent("message_new", DATA), True, False)
    packed, original, size, compressed = broadcast.frame(2, codec, True, "msgpack")
    text = broadcast.frame(2, codec, True)[0]
    assert broadcast.frame(2, codec, True, "msgpack")[0] is packed  # built once
    assert packed[0] == 0x82 and text[0] == 0x81  # binary / text opcode
    payload = packed[len(packed) - size :]
    assert packed == ws_frame(payload, True)
    assert msgpack.unpackb(payload) == {
        "_v": 2,
        "e": "message_new",
        "d": {"c": "hi", "ts": 1761393600000},
    }
    assert original == len(codec.encode_v1("message_new", DATA)) and not compressed


def test_events_msgpack_cannot_carry_are_prepared_as_v1_text() -> None:
    codec = Codec()
    broadcast = Broadcast(EncodedEvent("ev", {"n": 2**70}), True, False)
    frame, original, size, _ = broadcast.frame(2, codec, True, "msgpack")
    assert frame == ws_frame(codec.encode_v1("ev", {"n": 2**70}).encode(), False)
    assert original == size


def test_unoptimized_broadcasts_are_v1_for_msgpack_members() -> None:
    codec = Codec()
    broadcast = Broadcast(EncodedEvent("ev", DATA), False, False)
    frame = broadcast.frame(2, codec, True, "msgpack")[0]
    assert frame == ws_frame(codec.encode_v1("ev", DATA).encode(), False)
