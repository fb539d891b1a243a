"""Write tests/vectors/stream_zstd.json: zstd group-stream sessions (protocol section 3.3).

Run from the repository root: ``python tests/vectors/stream_zstd_generate.py``. The sessions of
stream.json, for zstd streams (``0xA7`` / ``0xA6`` frames): epoch changes, a receiver that joins
mid-epoch, a lost frame healed by the next epoch start, the cap, corrupt data, a large window, a
frame of the other codec. tests/test_stream_zstd_vectors.py checks the committed file (byte for
byte when the libzstd version is the one recorded) and the Python decoder;
tests/js/stream_zstd.test.mjs runs the JavaScript decoder with fzstd on it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import zstandard  # noqa: E402
from stream_generate import (  # noqa: E402
    _TEXTS,
    _encode,
    _Session,
    corrupt,
    epoch_changes,
    interleaved,
    join_mid_epoch,
    lost_frame,
    over_the_cap,
    write,
)

from reznet_ws.codec import PROTOCOL_VERSION  # noqa: E402
from reznet_ws.codec.stream import StreamEncoder  # noqa: E402
from reznet_ws.codec.stream_zstd import ZstdStreamEncoder  # noqa: E402

__all__ = ["OUT", "build"]

OUT = HERE / "stream_zstd.json"


def _sessions() -> Iterator[_Session]:
    yield epoch_changes(
        ZstdStreamEncoder(2), "three zstd epochs: each start begins a new zstd frame", 4
    )
    yield interleaved(
        "two codecs",
        "a zstd stream and a deflate stream interleaved on one connection",
        ZstdStreamEncoder(3),
        StreamEncoder(130),
    )
    yield join_mid_epoch(ZstdStreamEncoder(4), 1)
    yield lost_frame(ZstdStreamEncoder(5), "a lost frame is a gap; the next epoch start heals", 1)
    yield over_the_cap(ZstdStreamEncoder(6), "decoding past the cap refuses the frame")
    yield corrupt(
        ZstdStreamEncoder(7),
        "zstd data that does not decode breaks the stream",
        b"\xa6\x07\x01\xff\xff\xff\xff\xff\xff",
    )

    s = _Session("other codec", "a deflate frame cannot continue a zstd epoch")
    enc, other = ZstdStreamEncoder(8), StreamEncoder(8)
    s.ok(_encode(enc, _TEXTS[0]), _TEXTS[0])
    _encode(other, _TEXTS[0])
    s.error(_encode(other, _TEXTS[1]), "stream_gap")
    yield s

    s = _Session("large window", "window 8 MiB, level 9: a 120 KB message (several blocks) twice")
    enc = ZstdStreamEncoder(9, level=9, window_log=23)
    big = json.dumps(
        {"_v": 2, "e": "plan", "d": [{"task": i, "x": "z" * (i % 97)} for i in range(1700)]}
    )
    s.ok(_encode(enc, big), big)
    for text in _TEXTS:
        s.ok(_encode(enc, text), text)
    s.ok(_encode(enc, big), big)
    yield s


def build() -> dict[str, Any]:
    """Return the content of stream_zstd.json."""
    return {
        "protocol_version": PROTOCOL_VERSION,
        "libzstd": zstandard.ZSTD_VERSION and ".".join(map(str, zstandard.ZSTD_VERSION)),
        "sessions": [session.checked() for session in _sessions()],
    }


def main() -> None:
    """Write stream_zstd.json next to this file."""
    write(OUT, build())


if __name__ == "__main__":
    main()
