"""zstd group streams: the codec (reznet_ws.codec.stream_zstd), negotiation, the server's streams.

Property tests: every message decodes, in order, across epochs; a lost frame is always detected;
members of a group that negotiated zstd and members that did not each receive, in order, what v1
delivers (minus detected gaps), the zstd members from a zstd stream of their own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.checks.settings import check_zstd
from reznet_ws.codec import ProtocolError
from reznet_ws.codec.stream import (
    StreamDecoder,
    StreamEncoder,
    StreamGap,
    is_stream_frame,
    parse_header,
)
from reznet_ws.codec.stream_zstd import (
    MAX_WINDOW_LOG,
    ZstdInflater,
    ZstdStreamEncoder,
    zstd_available,
    zstd_memory,
)
from reznet_ws.conf import DEFAULTS
from reznet_ws.delivery.streams import stream_codec, stream_stats

from .test_stream_delivery import KINDS, N, _run, in_order_minus_gaps, schedule_actions

texts = st.text(
    st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=300
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(texts, max_size=8), min_size=1, max_size=4), st.sampled_from([1, 6, 12]))
def test_every_message_decodes_in_order_across_epochs(epochs: list[list[str]], level: int) -> None:
    encoder, decoder = ZstdStreamEncoder(1, level, 16), StreamDecoder()
    for messages in epochs:
        encoder.start_epoch()
        for i, text in enumerate(messages):
            frame = encoder.encode(text.encode("utf-8"))
            assert frame[0] == (0xA6 if i else 0xA7)
            assert decoder.decode(frame) == text
    assert decoder.broken() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=3, max_size=12), st.data())
def test_a_lost_frame_is_always_detected_and_healed(messages: list[str], data: Any) -> None:
    encoder, decoder = ZstdStreamEncoder(2), StreamDecoder()
    lost = data.draw(st.integers(1, len(messages) - 2))
    frames = [encoder.encode(t.encode()) for t in messages]
    for i, frame in enumerate(frames):
        if i == lost:
            continue
        if i < lost:
            assert decoder.decode(frame) == messages[i]
        else:
            with pytest.raises(StreamGap):
                decoder.decode(frame)
    encoder.start_epoch()
    assert decoder.decode(encoder.encode(b'{"again":1}')) == '{"again":1}'


def test_header_marks_the_codec() -> None:
    encoder = ZstdStreamEncoder(300)
    first, second = encoder.encode(b"{}"), encoder.encode(b"[]")
    assert (first[0], second[0]) == (0xA7, 0xA6)
    assert parse_header(first).codec == "zstd" and parse_header(first).epoch == 0
    assert parse_header(second).codec == "zstd" and parse_header(second).epoch is None
    assert parse_header(StreamEncoder(1).encode(b"{}")).codec == "deflate"
    assert first[5:9] == b"\x28\xb5\x2f\xfd"  # an epoch's data starts a zstd frame


def test_decoded_size_is_capped_even_for_highly_compressible_data() -> None:
    encoder = ZstdStreamEncoder(3, 19, MAX_WINDOW_LOG)
    frame = encoder.encode(b'"' + b"a" * 5_000_000 + b'"')
    assert len(frame) < 2000
    with pytest.raises(ProtocolError) as caught:
        StreamDecoder(max_size=100_000).decode(frame)
    assert caught.value.code == "too_large"
    inflater = ZstdInflater()
    with pytest.raises(ProtocolError):
        inflater.inflate(frame[parse_header(frame).offset :], 100_000)


def test_a_window_over_8_mib_is_refused() -> None:
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24)
    packer = zstandard.ZstdCompressor(compression_params=params).compressobj()
    data = packer.compress(b"{}\n") + packer.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    with pytest.raises(ProtocolError) as caught:
        StreamDecoder().decode(b"\xa7\x01\x00\x00" + data)
    assert caught.value.code == "decompression_failed"


def test_memory_is_zstd_s_estimate() -> None:
    encoder = ZstdStreamEncoder(4, 6, 22)
    assert encoder.memory() == 0
    encoder.encode(b"{}")
    assert encoder.memory() == zstd_memory(6, 22) > 1 << 20
    encoder.release()
    assert encoder.memory() == 0


@pytest.mark.parametrize(
    ("query", "config", "expected"),
    [
        (b"reznet_features=stream,stream-zstd", {}, "zstd"),
        (b"reznet_features=content,stream", {}, "deflate"),
        (b"reznet_features=stream-zstd", {}, None),  # stream-zstd only adds to stream
        (b"reznet_features=stream,stream-zstd", {"STREAM_ZSTD": False}, "deflate"),
        (b"reznet_features=stream,stream-zstd", {"STREAM_MODE": False}, None),
        (b"", {}, None),
    ],
)
def test_the_codec_is_negotiated(query: bytes, config: dict[str, Any], expected: Any) -> None:
    with override_settings(REZNET_WS=config):
        assert stream_codec({"query_string": query}) == expected


def test_check_w051_only_when_asked_for_without_the_package() -> None:
    assert zstd_available()
    config = {**DEFAULTS, "STREAM_ZSTD": True}
    assert [m.id for m in check_zstd(config, available=lambda: False)] == ["reznet_ws.W051"]
    assert check_zstd(config) == []
    assert check_zstd({**DEFAULTS}, available=lambda: False) == []  # None: when installed


actions = schedule_actions([k for k in KINDS if k != "resync"])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(actions, max_size=50),
    st.lists(st.sampled_from(["deflate", "zstd"]), min_size=N, max_size=N),
)
def test_zstd_and_deflate_members_receive_what_v1_delivers(
    schedule: list[tuple[str, int]], codecs: list[str]
) -> None:
    with override_settings(REZNET_WS={"STREAM_EPOCH_MESSAGES": 3, "STREAM_EPOCH_SECONDS": 2.0}):
        clients, _ = asyncio.run(asyncio.wait_for(_run(schedule, [True] * N, codecs), 30))
    for client in clients:
        in_order_minus_gaps(client)


def test_a_zstd_member_gets_zstd_frames_beside_a_deflate_stream(recorder: Any) -> None:
    schedule = [("join", 0), ("join", 1), ("join", 2), ("join", 3)]
    schedule += [("broadcast", n) for n in range(6)]
    codecs = ["zstd", "zstd", "deflate", "deflate"]

    async def run() -> Any:
        clients, streams = await _run(schedule, [True] * N, codecs)
        assert {key[1] for key in streams.groups["g"]} == {"zstd", "deflate"}
        figures = stream_stats()
        assert figures["zstd_streams"] >= 1 and figures["zstd_memory"] > 0
        assert figures["stream_memory"] > figures["zstd_memory"]
        streams.record(next(iter(streams.groups["g"].values()))._current)  # as the hub does
        return clients

    clients = asyncio.run(asyncio.wait_for(run(), 10))
    for client in clients:
        assert client.gaps == 0 and len(client.events) == 6
    assert all(c.stream_frames == 5 for c in clients)  # the first broadcast counts the members
    counters = recorder.counters
    assert counters["stream_frames:zstd"] == 2 and counters["stream_frames:deflate"] == 2
    assert counters["stream_bytes:zstd"] > 0 and counters["stream_bytes:deflate"] > 0


def test_large_payloads_stream_smaller_with_zstd_than_deflate() -> None:
    # Payloads over 32 KiB that repeat: beyond deflate's window, within zstd's.
    payloads = [
        json.dumps(
            {"n": i, "rows": [{"id": j, "name": f"row {j}", "ok": j % 3 == 0} for j in range(900)]}
        )
        for i in range(6)
    ]
    deflate, zstd = StreamEncoder(1), ZstdStreamEncoder(2)
    sizes = [sum(len(encoder.encode(p.encode())) for p in payloads) for encoder in (deflate, zstd)]
    assert sizes[1] < sizes[0] / 2
    decoder = StreamDecoder(1 << 22)
    zstd.start_epoch()
    assert [decoder.decode(zstd.encode(p.encode())) for p in payloads] == payloads


def test_zstd_frames_are_stream_frames() -> None:
    frame = ZstdStreamEncoder(9).encode(b"{}")
    assert is_stream_frame(frame) and not is_stream_frame(b"\x1f\x8b")
