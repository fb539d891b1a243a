"""The group-stream codec (reznet_ws.codec.stream): frames, epochs, gaps, caps."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.codec import ProtocolError
from reznet_ws.codec.stream import (
    EPOCH_START,
    IN_EPOCH,
    StreamDecoder,
    StreamEncoder,
    StreamGap,
    accepts_stream,
    compressor_memory,
    is_stream_frame,
    parse_header,
)

# Frame texts: compact JSON never holds a raw newline (JSON escapes it inside strings).
texts = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=300)
# Each message: its text and whether an epoch starts with it.
schedules = st.lists(st.tuples(texts, st.booleans()), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(schedules, st.sampled_from([9, 12, 15]), st.sampled_from([1, 5, 8]))
def test_every_message_decodes_in_order_across_epochs(
    schedule: list[tuple[str, bool]], window: int, mem_level: int
) -> None:
    encoder = StreamEncoder(7, window, mem_level)
    decoder = StreamDecoder()
    for text, start in schedule:
        if start:
            encoder.start_epoch()
        frame = encoder.encode(text.encode())
        assert is_stream_frame(frame)
        assert decoder.decode(frame) == text
    assert encoder.seq == len(schedule)


@settings(max_examples=150, deadline=None)
@given(schedules, st.data())
def test_a_lost_frame_is_always_detected_and_healed_by_the_next_epoch(
    schedule: list[tuple[str, bool]], data: st.DataObject
) -> None:
    encoder = StreamEncoder(1)
    frames = []
    for text, start in schedule:
        if start:
            encoder.start_epoch()
        frames.append((encoder.encode(text.encode()), text))
    lost = data.draw(st.integers(0, len(frames) - 1))
    decoder = StreamDecoder()
    broken = False
    for i, (frame, text) in enumerate(frames):
        if i == lost:
            broken = True
            continue
        if frame[0] == EPOCH_START:
            broken = False
        if broken:
            with pytest.raises(StreamGap):
                decoder.decode(frame)
            assert decoder.broken() == [1]
        else:
            assert decoder.decode(frame) == text


def test_header_layout() -> None:
    encoder = StreamEncoder(300)
    first, second = encoder.encode(b'{"a":1}'), encoder.encode(b'{"a":1}')
    assert first[0] == EPOCH_START and second[0] == IN_EPOCH
    assert parse_header(first).stream == 300 and parse_header(first).epoch == 0
    assert parse_header(second).epoch is None and parse_header(second).seq == 1
    # raw deflate after the header; the sync flush's 00 00 ff ff is left out
    body = first[parse_header(first).offset :]
    assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff") == b'{"a":1}\n'
    assert not body.endswith(b"\x00\x00\xff\xff")


def test_inflated_size_is_capped() -> None:
    encoder = StreamEncoder(1)
    decoder = StreamDecoder(max_size=1000)
    with pytest.raises(ProtocolError) as caught:
        decoder.decode(encoder.encode(b"x" * 5000))
    assert caught.value.code == "too_large"
    assert decoder.broken() == [1]
    encoder.start_epoch()
    assert decoder.decode(encoder.encode(b"ok")) == "ok"


@pytest.mark.parametrize(
    "frame",
    [b"\xa5", b"\xa4\x01", b"\xa5\x01\x80", b"\xa5\x01\x00\x00\xff\xff\xff", b"\x1f\x8b"],
)
def test_malformed_frames_raise_protocol_errors(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        StreamDecoder().decode(frame)


def test_two_messages_in_one_frame_are_refused() -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = packer.compress(b"a\nb\n") + packer.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(ProtocolError) as caught:
        StreamDecoder().decode(b"\xa5\x01\x00\x00" + body[:-4])
    assert caught.value.code == "decompression_failed"


def test_feature_is_negotiated_in_the_query_string() -> None:
    assert accepts_stream(b"reznet_features=content,stream")
    assert accepts_stream("x=1&reznet_features=stream")
    assert not accepts_stream(b"reznet_features=content")
    assert not accepts_stream(None)


def test_compressor_memory_follows_zlib() -> None:
    assert compressor_memory(15, 8) == 128 * 1024 + 128 * 1024 + 6 * 1024
    assert StreamEncoder(1).memory() == 0
