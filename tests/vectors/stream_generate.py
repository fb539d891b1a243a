"""Write tests/vectors/stream.json: group-stream sessions (protocol section 3.3).

Run from the repository root: ``python tests/vectors/stream_generate.py``. Each session is the
sequence of binary frames one connection receives, in order, with what a receiver must make of
each: the text it carries, or the error code it raises. Sessions cover epoch changes, several
streams, a member that joins mid-epoch, lost frames and the resync at the next epoch start, and
frames a receiver must refuse. tests/test_stream_vectors.py checks the committed file is fresh
and that the Python decoder agrees; tests/js/stream.test.mjs runs the JavaScript decoder on it.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reznet_ws.codec import PROTOCOL_VERSION, ProtocolError  # noqa: E402
from reznet_ws.codec.stream import StreamDecoder, StreamEncoder  # noqa: E402

__all__ = ["OUT", "build"]

OUT = Path(__file__).resolve().parent / "stream.json"

_TEXTS = [
    '{"_v":2,"e":"message_new","d":{"mid":"abc-123","c":"hello","ts":1761393600000}}',
    '{"_v":2,"e":"message_new","d":{"mid":"abc-124","c":"hello again","ts":1761393600100}}',
    '{"_v":2,"e":"book","d":{"s":"BTCUSDT","b":[[59990.5,1.25],[59990.0,0.5]],"a":[[60000,2]]}}',
    '{"_v":2,"e":"message_new","d":{"mid":"abc-125","c":"caf\u00e9 \U0001f680 \u2028","ts":1}}',
    '{"event": "legacy", "data": {"plain": true}}',
    '{"_v":2,"b":[["typing",{"u":"a"}],["typing",{"u":"b"}]]}',
    '{"_v":2,"c":{"type":"chat.message","message":{"c":"hi"}}}',
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Session:
    def __init__(self, name: str, description: str, max_inflated: int | None = None) -> None:
        self.name, self.description, self.max_inflated = name, description, max_inflated
        self.frames: list[tuple[bytes, dict[str, str]]] = []

    def add(self, frame: bytes, outcome: dict[str, str]) -> None:
        self.frames.append((frame, outcome))

    def ok(self, frame: bytes, text: str) -> None:
        self.add(frame, {"text": text})

    def error(self, frame: bytes, code: str) -> None:
        self.add(frame, {"error": code})

    def checked(self) -> dict[str, Any]:
        decoder = StreamDecoder(self.max_inflated or 1 << 24)
        for frame, outcome in self.frames:
            try:
                got = {"text": decoder.decode(frame)}
            except ProtocolError as exc:
                got = {"error": exc.code}
            assert got == outcome, (self.name, got, outcome)
        vector: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.max_inflated is not None:
            vector["max_inflated_bytes"] = self.max_inflated
        vector["frames"] = [{"bytes": _b64(f), **o} for f, o in self.frames]
        return vector


def _encode(encoder: StreamEncoder, text: str) -> bytes:
    return encoder.encode(text.encode("utf-8"))


# Sessions of both codecs (tests/vectors/stream_zstd_generate.py builds the zstd ones).


def epoch_changes(enc: StreamEncoder, description: str, per_epoch: int) -> _Session:
    """Three epochs of ``per_epoch`` messages each."""
    s = _Session("epoch changes", description)
    for epoch in range(3):
        enc.start_epoch()
        for text in _TEXTS[epoch : epoch + per_epoch]:
            s.ok(_encode(enc, text), text)
    return s


def interleaved(name: str, description: str, a: StreamEncoder, b: StreamEncoder) -> _Session:
    """The messages sent alternately on two streams, ``b`` first."""
    s = _Session(name, description)
    for i, text in enumerate(_TEXTS):
        s.ok(_encode(a if i % 2 else b, text), text)
    return s


def join_mid_epoch(enc: StreamEncoder, refused: int) -> _Session:
    """A receiver that missed the epoch start refuses ``refused`` frames, then joins."""
    s = _Session(
        "join mid-epoch",
        "a receiver that starts inside an epoch refuses frames until the next epoch start",
    )
    _encode(enc, _TEXTS[0])
    for text in _TEXTS[1 : 1 + refused]:
        s.error(_encode(enc, text), "stream_gap")
    enc.start_epoch()
    s.ok(_encode(enc, _TEXTS[3]), _TEXTS[3])
    s.ok(_encode(enc, _TEXTS[4]), _TEXTS[4])
    return s


def lost_frame(enc: StreamEncoder, description: str, refused: int) -> _Session:
    """The second frame is lost: ``refused`` frames are gaps until the next epoch start."""
    s = _Session("lost frame and resync", description)
    s.ok(_encode(enc, _TEXTS[0]), _TEXTS[0])
    _encode(enc, _TEXTS[1])  # never arrives
    for text in _TEXTS[2 : 2 + refused]:
        s.error(_encode(enc, text), "stream_gap")
    enc.start_epoch()
    for text in _TEXTS[2 + refused :]:
        s.ok(_encode(enc, text), text)
    return s


def over_the_cap(enc: StreamEncoder, description: str) -> _Session:
    """A receiver with a 64-byte cap refuses a larger message, then waits for an epoch."""
    s = _Session("large message over the cap", description, 64)
    s.ok(_encode(enc, _TEXTS[0][:60]), _TEXTS[0][:60])
    s.error(_encode(enc, '{"x":"' + "y" * 500 + '"}'), "too_large")
    s.error(_encode(enc, _TEXTS[1][:10]), "stream_gap")
    enc.start_epoch()
    s.ok(_encode(enc, _TEXTS[1][:10]), _TEXTS[1][:10])
    return s


def corrupt(enc: StreamEncoder, description: str, frame: bytes) -> _Session:
    """``frame`` (of the stream of ``enc``) does not decode: the stream is broken after it."""
    s = _Session("corrupt data", description)
    s.ok(_encode(enc, _TEXTS[0]), _TEXTS[0])
    s.error(frame, "decompression_failed")
    s.error(_encode(enc, _TEXTS[1]), "stream_gap")
    return s


def _sessions() -> Iterator[_Session]:
    s = _Session("one epoch", "an epoch start, then frames inside the epoch")
    enc = StreamEncoder(1)
    for text in _TEXTS:
        s.ok(_encode(enc, text), text)
    yield s

    yield epoch_changes(StreamEncoder(2), "three epochs: each start resets the inflater", 3)
    # 130: a two-byte stream id
    yield interleaved(
        "two streams",
        "frames of two groups interleaved on one connection",
        StreamEncoder(3),
        StreamEncoder(130),
    )
    yield join_mid_epoch(StreamEncoder(4), 2)
    yield lost_frame(
        StreamEncoder(5),
        "a lost frame is detected at the next frame; the next epoch start heals the stream",
        2,
    )
    yield over_the_cap(StreamEncoder(6), "inflating past the cap refuses the frame")
    yield corrupt(
        StreamEncoder(7),
        "deflate data that does not inflate breaks the stream",
        b"\xa4\x07\x01\xff\xff\xff\xff",
    )

    s = _Session("two messages in one frame", "a frame inflates to exactly one line")
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = packer.compress(b'{"a":1}\n{"b":2}\n') + packer.flush(zlib.Z_SYNC_FLUSH)
    s.error(b"\xa5\x08\x00\x00" + body[:-4], "decompression_failed")
    yield s

    s = _Session("small window, low memory", "window 9 bits, memory level 1, level 9")
    enc = StreamEncoder(9, window_bits=9, mem_level=1, level=9)
    for text in _TEXTS * 3:
        s.ok(_encode(enc, text), text)
    yield s

    s = _Session("large message", "a 40 KB message, inflated in several output chunks")
    enc = StreamEncoder(10)
    big = json.dumps(
        {"_v": 2, "e": "plan", "d": [{"task": i, "x": "z" * (i % 97)} for i in range(800)]}
    )
    s.ok(_encode(enc, big), big)
    s.ok(_encode(enc, big), big)
    yield s


def build() -> dict[str, Any]:
    """Return the content of stream.json."""
    return {
        "protocol_version": PROTOCOL_VERSION,
        "sessions": [session.checked() for session in _sessions()],
    }


def write(out: Path, content: dict[str, Any]) -> None:
    """Write ``content`` to ``out`` as the vector files are written (one-space indent, ASCII)."""
    out.write_text(json.dumps(content, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    """Write stream.json next to this file."""
    write(OUT, build())


if __name__ == "__main__":
    main()
