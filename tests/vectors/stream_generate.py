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


def _sessions() -> Iterator[_Session]:
    s = _Session("one epoch", "an epoch start, then frames inside the epoch")
    enc = StreamEncoder(1)
    for text in _TEXTS:
        s.ok(_encode(enc, text), text)
    yield s

    s = _Session("epoch changes", "three epochs: each start resets the inflater")
    enc = StreamEncoder(2)
    for epoch in range(3):
        enc.start_epoch()
        for text in _TEXTS[epoch : epoch + 3]:
            s.ok(_encode(enc, text), text)
    yield s

    s = _Session("two streams", "frames of two groups interleaved on one connection")
    a, b = StreamEncoder(3), StreamEncoder(130)  # 130: a two-byte stream id
    for i, text in enumerate(_TEXTS):
        s.ok(_encode(a if i % 2 else b, text), text)
    yield s

    s = _Session(
        "join mid-epoch",
        "a receiver that starts inside an epoch refuses frames until the next epoch start",
    )
    enc = StreamEncoder(4)
    _encode(enc, _TEXTS[0])
    s.error(_encode(enc, _TEXTS[1]), "stream_gap")
    s.error(_encode(enc, _TEXTS[2]), "stream_gap")
    enc.start_epoch()
    s.ok(_encode(enc, _TEXTS[3]), _TEXTS[3])
    s.ok(_encode(enc, _TEXTS[4]), _TEXTS[4])
    yield s

    s = _Session(
        "lost frame and resync",
        "a lost frame is detected at the next frame; the next epoch start heals the stream",
    )
    enc = StreamEncoder(5)
    s.ok(_encode(enc, _TEXTS[0]), _TEXTS[0])
    _encode(enc, _TEXTS[1])  # never arrives
    s.error(_encode(enc, _TEXTS[2]), "stream_gap")
    s.error(_encode(enc, _TEXTS[3]), "stream_gap")
    enc.start_epoch()
    for text in _TEXTS[4:]:
        s.ok(_encode(enc, text), text)
    yield s

    s = _Session("large message over the cap", "inflating past the cap refuses the frame", 64)
    enc = StreamEncoder(6)
    s.ok(_encode(enc, _TEXTS[0][:60]), _TEXTS[0][:60])
    s.error(_encode(enc, '{"x":"' + "y" * 500 + '"}'), "too_large")
    s.error(_encode(enc, _TEXTS[1][:10]), "stream_gap")
    enc.start_epoch()
    s.ok(_encode(enc, _TEXTS[1][:10]), _TEXTS[1][:10])
    yield s

    s = _Session("corrupt data", "deflate data that does not inflate breaks the stream")
    enc = StreamEncoder(7)
    s.ok(_encode(enc, _TEXTS[0]), _TEXTS[0])
    s.error(b"\xa4\x07\x01\xff\xff\xff\xff", "decompression_failed")
    s.error(_encode(enc, _TEXTS[1]), "stream_gap")
    yield s

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


def main() -> None:
    """Write stream.json next to this file."""
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
