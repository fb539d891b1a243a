"""permessage-deflate for broadcasts: one compression per member, or one per broadcast.

Run: ``python benchmarks/bench_deflate_modes.py`` (in process, about 20 s). Writes
benchmarks/results/deflate-modes.json and deflate-modes.md.

With server context takeover (each connection's compressor keeps its window between messages) a
broadcast must be compressed once per member: each member's compressor has seen a different
history. Without it (``DEFLATE_SERVER_NO_CONTEXT_TAKEOVER``, the default) every message is
compressed alone, so a broadcast is compressed once and the same frame goes to every member. This
measures both on the same messages, at the server's default window and memory level and at
zlib's defaults: bytes per message as a share of the uncompressed v2 frames, and the compression
CPU one broadcast costs at 1,000 members (per member: 1,000 compressions; prepared: one). The
server's whole CPU per broadcast, with the writes, is measured by wsbench (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.market_trace import make_market_trace  # noqa: E402
from benchmarks.trace import make_trace  # noqa: E402
from reznet_ws.codec import Codec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
EVENTS = 2000
MEMBERS = 1000
SETTINGS = [(12, 5), (15, 8)]  # (window bits, mem level): the server's defaults, zlib's


def v2_messages(events: list[tuple[str, Any]]) -> list[bytes]:
    """Return the v2 frames (no gzip: permessage-deflate connections never get it) of ``events``."""
    codec = Codec()
    out = []
    for event, data in events:
        text, _ = codec.finalize(codec.encode_event(event, data), allow_gzip=False)
        out.append(text if isinstance(text, bytes) else text.encode())
    return out


def with_context(messages: list[bytes], bits: int, mem: int) -> tuple[int, float]:
    """Bytes and CPU seconds of one connection compressing every message with its context."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -bits, mem)
    total = 0
    start = time.process_time()
    for message in messages:
        total += len(packer.compress(message) + packer.flush(zlib.Z_SYNC_FLUSH)) - 4
    return total, time.process_time() - start


def alone(messages: list[bytes], bits: int, mem: int) -> tuple[int, float]:
    """Bytes and CPU seconds of compressing every message on its own (no context takeover)."""
    total = 0
    start = time.process_time()
    for message in messages:
        packer = zlib.compressobj(6, zlib.DEFLATED, -bits, mem)
        total += len(packer.compress(message) + packer.flush(zlib.Z_SYNC_FLUSH)) - 4
    return total, time.process_time() - start


def measure(name: str, messages: list[bytes]) -> list[dict[str, Any]]:
    plain = sum(len(m) for m in messages)
    rows = []
    for bits, mem in SETTINGS:
        figures: dict[str, Callable[..., tuple[int, float]]] = {
            "context takeover": with_context,
            "no context takeover": alone,
        }
        for mode, run in figures.items():
            results = [run(messages, bits, mem) for _ in range(3)]
            size, cpu = results[0][0], median(r[1] for r in results)
            per_message_us = 1e6 * cpu / len(messages)
            compressions = MEMBERS if mode == "context takeover" else 1
            rows.append(
                {
                    "stream": name,
                    "window_bits": bits,
                    "mem_level": mem,
                    "mode": mode,
                    "bytes_per_msg": round(size / len(messages), 1),
                    "share_of_v2": round(size / plain, 3),
                    "compress_us_per_msg": round(per_message_us, 1),
                    "compress_ms_per_broadcast": round(per_message_us * compressions / 1000, 2),
                }
            )
    return rows


def render(result: dict[str, Any]) -> str:
    lines = [
        "## permessage-deflate: per-member or per-broadcast compression",
        "",
        f"Command: `{result['command']}` (Python {result['python']}, {result['machine']}). "
        f"Bytes as a share of the uncompressed v2 frames; compression CPU for one broadcast to "
        f"{MEMBERS:,} members (context takeover: one compression per member; no context "
        "takeover: one per broadcast).",
        "",
        "| stream | window / mem level | mode | bytes/msg | share of v2 | compress µs/msg "
        "| compression per broadcast |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['stream']} | {r['window_bits']} / {r['mem_level']} | {r['mode']} "
            f"| {r['bytes_per_msg']} | {r['share_of_v2']:.3f} | {r['compress_us_per_msg']} "
            f"| {r['compress_ms_per_broadcast']} ms |"
        )
    return "\n".join(lines) + "\n"


def main() -> dict[str, Any]:
    streams = {
        "example trace": v2_messages(make_trace(EVENTS)),
        "market data": v2_messages(make_market_trace(EVENTS)),
    }
    rows = [row for name, messages in streams.items() for row in measure(name, messages)]
    result = {
        "command": "python benchmarks/bench_deflate_modes.py",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "events": EVENTS,
        "members": MEMBERS,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deflate-modes.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "deflate-modes.md").write_text(render(result))
    print(render(result))
    return result


if __name__ == "__main__":
    main()
