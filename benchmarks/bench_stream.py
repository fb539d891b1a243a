"""Group-stream benchmark: bytes on the wire and CPU per broadcast, in process.

Run: ``python benchmarks/bench_stream.py [--quick]`` (about a minute, 15 s with ``--quick``).
Writes benchmarks/results/stream.json and stream.md (rendered into docs/benchmarks.md by
benchmarks/report.py).

1. **Bytes** over three streams (the example trace, the synthetic market feed, large nested
   webhook-like payloads generated here): WebSocket frames (headers included) as one member
   receives them, for plain Channels JSON, v2 frames, v2 with per-connection permessage-deflate
   (our defaults: window 12, memory level 5; and window 15, memory level 8) exactly as autobahn
   frames it, and v2 in a group stream (window 15, memory level 8, one epoch; and with an epoch
   every 1,000 and 100 messages, the cost of members joining all the time). The offline bound is
   ``zstd -19`` over the whole stream of v2 texts (the ``zstd`` command). zstd streams are
   measured through the server's encoder (``ZstdStreamEncoder``, ``zstandard``): levels 6 and 9,
   window log 22 (the default), one block flush per frame; with one event per frame and with
   batch frames of 10 consecutive events (``BATCH_SIZE`` 10, a ``BATCH_WINDOW`` long enough to
   fill them: 50 ms at 200 events/s and more), against the bound over the same events.
2. **CPU per broadcast** at 1,000 members of one group in one process, through the hub's
   fan-out (``Hub.fanout``) to connections whose sockets are stubs: the uncompressed prepared
   frame, the deflate group stream, the zstd group stream (level 6, window log 22), and
   per-connection deflate (each member's own compressor, as permessage-deflate runs it: one
   compression per member per broadcast).
3. **Memory**: Python-allocated bytes (``tracemalloc``, zlib's buffers included) of 1,000
   members after 200 broadcasts, with and without the stream; zlib's documented size of one
   stream compressor and of one per-connection compressor; zstd's estimate of one zstd stream
   compressor.

The machine is shared: CPU figures are noisy; run again before drawing fine conclusions.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import tracemalloc
import weakref
import zlib
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_stream")

SECRET_KEY = "bench-stream"
INSTALLED_APPS = ["reznet_ws"]
USE_TZ = True
REZNET_WS = {"STATS_ENABLED": False, "GZIP_THRESHOLD": 1 << 30}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

RESULTS = ROOT / "benchmarks" / "results"


# ----------------------------------------------------------------------------- streams


def webhook_trace(n: int, seed: int = 5) -> list[tuple[str, dict[str, Any]]]:
    """Large nested events shaped like repository webhooks: push, pull request, issue comment."""
    rng = random.Random(seed)
    users = [f"user{i}" for i in range(40)]
    repos = [f"org/project-{i}" for i in range(6)]

    def user(name: str) -> dict[str, Any]:
        uid = users.index(name) + 1000
        base = f"https://api.example.test/users/{name}"
        return {
            "login": name, "id": uid, "node_id": f"MDQ6VXNlcj{uid}", "type": "User",
            "avatar_url": f"https://avatars.example.test/u/{uid}?v=4", "url": base,
            "html_url": f"https://example.test/{name}", "followers_url": f"{base}/followers",
            "repos_url": f"{base}/repos", "site_admin": False,
        }  # fmt: skip

    def repo(name: str) -> dict[str, Any]:
        rid = repos.index(name) + 500
        base = f"https://api.example.test/repos/{name}"
        return {
            "id": rid, "name": name.split("/")[1], "full_name": name, "private": False,
            "owner": user(users[rid % 7]), "html_url": f"https://example.test/{name}",
            "url": base, "issues_url": f"{base}/issues{{/number}}",
            "pulls_url": f"{base}/pulls{{/number}}", "default_branch": "main",
            "stargazers_count": rng.randrange(10, 5000), "open_issues_count": rng.randrange(50),
            "topics": ["django", "websocket", "realtime"], "visibility": "public",
            "created_at": "2024-01-02T03:04:05Z", "pushed_at": "2025-10-25T12:00:00Z",
        }  # fmt: skip

    def sha() -> str:
        return f"{rng.getrandbits(160):040x}"

    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        kind = rng.choice(("push", "pull_request", "issue_comment"))
        who, where = rng.choice(users), rng.choice(repos)
        data: dict[str, Any] = {"repository": repo(where), "sender": user(who)}
        if kind == "push":
            data["commits"] = [
                {"id": sha(), "message": f"Fix {rng.choice(('parser', 'hub', 'client'))} #{i}",
                 "timestamp": f"2025-10-25T12:{i % 60:02d}:00Z", "author": {"name": who},
                 "added": [], "modified": [f"src/module_{rng.randrange(30)}.py"], "removed": []}
                for _ in range(rng.randrange(1, 6))
            ]  # fmt: skip
            data["ref"], data["before"], data["after"] = "refs/heads/main", sha(), sha()
        elif kind == "pull_request":
            data["action"] = rng.choice(("opened", "synchronize", "closed"))
            data["pull_request"] = {
                "number": rng.randrange(1, 900), "state": "open", "title": f"Change {i}",
                "user": user(who), "body": "Summary of the change. " * rng.randrange(1, 8),
                "head": {"ref": f"feature-{i}", "sha": sha(), "repo": repo(where)},
                "base": {"ref": "main", "sha": sha(), "repo": repo(where)},
                "labels": [{"name": "enhancement", "color": "a2eeef"}], "draft": False,
            }  # fmt: skip
        else:
            data["action"] = "created"
            data["comment"] = {"id": 10_000 + i, "user": user(who), "body": "LGTM " * (i % 9)}
            data["issue"] = {"number": rng.randrange(1, 900), "title": f"Issue {i}"}
        events.append((kind, data))
    return events


def stream_texts(quick: bool) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """Return ``{name: (v1 texts, v2 texts, v2 batch frames of 10 events)}`` of every stream."""
    from benchmarks.market_trace import MARKET_FIELD_MAP, make_market_trace
    from benchmarks.trace import make_trace
    from reznet_ws.codec import Codec, FieldMap

    market = Codec(FieldMap(MARKET_FIELD_MAP, []))
    default = Codec()
    n = 4 if quick else 1
    sets = {
        "example trace": (make_trace(2000 // n), default),
        "market data": (make_market_trace(4000 // n), market),
        "webhooks": (webhook_trace(600 // n), default),
    }
    out = {}
    for name, (trace, codec) in sets.items():
        v1 = [json.dumps({"event": e, "data": d}) for e, d in trace]
        items = [(e, codec.encode_data(d)) for e, d in trace]
        v2 = [codec.event_frame(e, text) for e, text in items]
        batches = [codec.batch_frame(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
        out[name] = (v1, v2, batches)
    return out


#: Events per batch frame in the batched measurements (the default ``BATCH_SIZE``).
BATCH = 10


def frame_size(payload: int) -> int:
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


def pmd_bytes(texts: list[str], bits: int, mem: int) -> int:
    """Bytes of ``texts`` through one connection's permessage-deflate, as autobahn sends it."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -bits, mem)
    return sum(
        frame_size(len(packer.compress(t.encode()) + packer.flush(zlib.Z_SYNC_FLUSH)) - 4)
        for t in texts
    )


def stream_bytes(texts: list[str], epoch_every: int | None) -> int:
    from reznet_ws.codec.stream import StreamEncoder

    encoder = StreamEncoder(1, 15, 8, 6)
    total = 0
    for i, text in enumerate(texts):
        if epoch_every and i % epoch_every == 0:
            encoder.start_epoch()
        total += frame_size(len(encoder.encode(text.encode())))
    return total


def zstd_stream_bytes(texts: list[str], level: int, window_log: int = 22) -> int | None:
    """Bytes of ``texts`` (events or batch frames) in one zstd group stream, frames included."""
    from reznet_ws.codec.stream_zstd import ZstdStreamEncoder, zstd_available

    if not zstd_available():
        return None
    encoder = ZstdStreamEncoder(1, level, window_log)
    return sum(frame_size(len(encoder.encode(text.encode()))) for text in texts)


def zstd_bound(texts: list[str]) -> int | None:
    if shutil.which("zstd") is None:
        return None
    data = "\n".join(texts).encode()
    return len(subprocess.run(["zstd", "-19", "-c"], input=data, capture_output=True).stdout)


def measure_bytes(quick: bool) -> dict[str, Any]:
    results = {}
    for name, (v1, v2, batches) in stream_texts(quick).items():
        plain = sum(frame_size(len(t)) for t in v1)
        row = {
            "messages": len(v2),
            "plain JSON": plain,
            "v2": sum(frame_size(len(t.encode())) for t in v2),
            "v2 + permessage-deflate w12/m5": pmd_bytes(v2, 12, 5),
            "v2 + permessage-deflate w15/m8": pmd_bytes(v2, 15, 8),
            "plain JSON + permessage-deflate w15/m8": pmd_bytes(v1, 15, 8),
            "v2 stream w15/m8": stream_bytes(v2, None),
            "v2 stream, epoch every 1000": stream_bytes(v2, 1000),
            "v2 stream, epoch every 100": stream_bytes(v2, 100),
            f"v2 stream w15/m8, batches of {BATCH}": stream_bytes(batches, None),
        }
        for level in (6, 9):
            for label, texts in (("per event", v2), (f"batches of {BATCH}", batches)):
                size = zstd_stream_bytes(texts, level)
                if size is not None:
                    row[f"zstd-{level} stream, {label}"] = size
        bound = zstd_bound(v2)
        if bound is not None:
            row["zstd -19 bound (whole stream)"] = bound
        stream = row["v2 stream w15/m8"]
        zstd_vs_bound = {
            k: round(v / bound, 3) for k, v in row.items() if k.startswith("zstd-") and bound
        }
        results[name] = {
            "zstd_vs_bound": zstd_vs_bound,
            "bytes": row,
            "share_of_plain": {k: round(v / plain, 4) for k, v in row.items() if k != "messages"},
            "stream_vs_pmd15": round(stream / row["v2 + permessage-deflate w15/m8"], 3),
            "stream_vs_pmd12": round(stream / row["v2 + permessage-deflate w12/m5"], 3),
        }
    return results


# ----------------------------------------------------------------------------- CPU


class _Transport:
    TLS = False
    dataBuffer = b""
    offset = 0
    _tempDataBuffer: list[bytes] = []
    _tempDataLen = 0


class _Protocol:
    """The parts of daphne's protocol the prepared-frame path uses; sendData only counts."""

    STATE_OPEN = 3
    SEND_STATE_GROUND = 0

    def __init__(self) -> None:
        self.state, self.send_state, self.transport = 3, 0, _Transport()
        self.sent = 0

    def sendData(self, data: bytes) -> None:
        self.sent += len(data)


async def _unused_send(protocol: _Protocol, message: Any) -> None:
    raise AssertionError("not on the prepared path")


class _DeflateMember:
    """Per-connection deflate as permessage-deflate runs it: its own compressor, per message."""

    def __init__(self, bits: int, mem: int) -> None:
        self.packer = zlib.compressobj(6, zlib.DEFLATED, -bits, mem)
        self.sent = 0

    def send(self, text: bytes) -> None:
        data = self.packer.compress(text) + self.packer.flush(zlib.Z_SYNC_FLUSH)
        self.sent += frame_size(len(data) - 4)


async def _fanout_cpu(mode: str, texts: list[str], members: int) -> tuple[float, int]:
    from reznet_ws.delivery.connection import Connection
    from reznet_ws.delivery.hub import Hub
    from reznet_ws.encoding import codec_for, default_field_map

    codec = codec_for(default_field_map())
    hub = Hub(object())
    protocols = [_Protocol() for _ in range(members)]
    conns = [Connection(functools.partial(_unused_send, p)) for p in protocols]
    for conn in conns:
        await conn.opened(2, codec, False)
        conn.stream_mode = mode in ("stream", "zstd stream")
        conn.stream_codec = "zstd" if mode == "zstd stream" else "deflate"
    hub.groups["g"] = weakref.WeakSet(conns)
    deflaters = [_DeflateMember(12, 5) for _ in range(members)] if mode == "deflate" else []
    messages = [
        {"group": "g", "id": f"m{i}", "event": "e", "v1": text, "optimize": True, "batch": False}
        for i, text in enumerate(texts)
    ]
    gc.collect()
    start = time.process_time()
    for message in messages:
        if deflaters:
            # The hub's encode-once, then one compression per member (autobahn's per message).
            from reznet_ws.delivery.prepared import Broadcast
            from reznet_ws.encoding import broadcast_cache

            encoded = broadcast_cache().get_or_create(message["id"], "e", message["v1"])
            payload = Broadcast(encoded, True, False).frame(2, codec, False)[0]
            for member in deflaters:
                member.send(payload)
        else:
            await hub.fanout(message)
    elapsed = time.process_time() - start
    sent = sum(p.sent for p in protocols) + sum(d.sent for d in deflaters)
    return elapsed / len(messages), sent // members


def measure_cpu(quick: bool, members: int = 1000) -> dict[str, Any]:
    from benchmarks.trace import make_trace

    trace = make_trace(60 if quick else 200, seed=3)
    texts = [json.dumps({"event": "e", "data": d}) for _, d in trace]
    rows: dict[str, Any] = {}
    from reznet_ws.codec.stream_zstd import zstd_available

    modes = ["prepared", "stream", "zstd stream", "deflate"]
    for mode in modes if zstd_available() else [m for m in modes if m != "zstd stream"]:
        runs = [asyncio.run(_fanout_cpu(mode, texts, members)) for _ in range(3)]
        rows[mode] = {
            "ms_per_broadcast": round(1000 * median(r[0] for r in runs), 3),
            "bytes_per_member": runs[0][1],
        }
    base = rows["prepared"]["ms_per_broadcast"]
    for row in rows.values():
        row["x_prepared"] = round(row["ms_per_broadcast"] / base, 2)
    return {"members": members, "broadcasts": len(texts), "modes": rows}


# ----------------------------------------------------------------------------- memory


async def _members_memory(stream: bool, members: int, texts: list[str]) -> int:
    from reznet_ws.delivery.connection import Connection
    from reznet_ws.delivery.hub import Hub
    from reznet_ws.encoding import codec_for, default_field_map

    codec = codec_for(default_field_map())
    gc.collect()
    tracemalloc.start()
    hub = Hub(object())
    protocols = [_Protocol() for _ in range(members)]
    conns = [Connection(functools.partial(_unused_send, p)) for p in protocols]
    for conn in conns:
        await conn.opened(2, codec, False)
        conn.stream_mode = stream
    hub.groups["g"] = weakref.WeakSet(conns)
    for i, text in enumerate(texts):
        message = {"group": "g", "id": f"k{i}", "event": "e", "v1": text}
        await hub.fanout({**message, "optimize": True, "batch": False})
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return current


def measure_memory(members: int = 1000) -> dict[str, Any]:
    from benchmarks.trace import make_trace
    from reznet_ws.codec.stream import compressor_memory
    from reznet_ws.codec.stream_zstd import zstd_memory

    texts = [json.dumps({"event": "e", "data": d}) for _, d in make_trace(200, seed=9)]
    plain = asyncio.run(_members_memory(False, members, texts))
    stream = asyncio.run(_members_memory(True, members, texts))
    return {
        "members": members,
        "bytes_per_member_plain": plain // members,
        "bytes_per_member_stream": stream // members,
        "stream_over_plain": round(stream / plain, 3),
        "stream_compressor_bytes": compressor_memory(15, 8),
        "pmd_compressor_bytes_w12_m5": compressor_memory(12, 5),
        "zstd_compressor_bytes_l6_w22": zstd_memory(6, 22),
    }


# ----------------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Group streams",
        "",
        "Measured with `python benchmarks/bench_stream.py` (in process, on "
        f"{result['machine']}). Bytes are WebSocket frames as one member receives them, as a "
        "share of plain Channels JSON frames; the stream is one epoch unless stated.",
        "",
    ]
    streams = result["bytes"]
    names = list(streams)
    keys = [k for k in streams[names[0]]["share_of_plain"]]
    lines.append(
        "| | " + " | ".join(f"{n} ({streams[n]['bytes']['messages']} msgs)" for n in names) + " |"
    )
    lines.append("|---" * (len(names) + 1) + "|")
    for key in keys:
        cells = [f"{streams[n]['share_of_plain'].get(key, float('nan')):.3f}" for n in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append(
        "| **stream / permessage-deflate w15/m8** (target <= 1.05) | "
        + " | ".join(f"**{streams[n]['stream_vs_pmd15']}**" for n in names)
        + " |"
    )
    lines.append(
        "| **stream / our permessage-deflate defaults w12/m5** (target <= 0.6 on large payloads) | "
        + " | ".join(f"**{streams[n]['stream_vs_pmd12']}**" for n in names)
        + " |"
    )
    zstd_keys = list(streams[names[0]].get("zstd_vs_bound", {}))
    if zstd_keys:
        lines += [
            "",
            "zstd streams (`ZstdStreamEncoder`, window log 22, one block flush per frame) as a "
            "multiple of the zstd -19 bound over the whole stream of the same events (target "
            f"<= 1.3 on large payloads, and on small messages with batching: {BATCH} consecutive "
            "events a frame, the default `BATCH_SIZE`, which the default 50 ms `BATCH_WINDOW` "
            "fills at 200 events/s and more). The server sends one event per stream frame today "
            "(`batch=True` broadcasts go out as ordinary batch frames), so the batched rows are "
            "what batch frames through the same encoder reach:",
            "",
            "| | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for key in zstd_keys:
            cells = [f"{streams[n]['zstd_vs_bound'][key]}" for n in names]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    cpu = result["cpu"]
    lines += [
        "",
        f"CPU per broadcast, {cpu['members']} members of one group in one process "
        f"({cpu['broadcasts']} broadcasts of the example trace through `Hub.fanout`, stub sockets; "
        "median of 3 runs; per-connection deflate is one window-12 compressor per member):",
        "",
        "| path | ms per broadcast | x prepared frame | bytes per member |",
        "|---|---|---|---|",
    ]
    for mode, row in cpu["modes"].items():
        lines.append(
            f"| {mode} | {row['ms_per_broadcast']} | {row['x_prepared']} "
            f"| {row['bytes_per_member']} |"
        )
    mem = result["memory"]
    lines += [
        "",
        f"Memory after 200 broadcasts to {mem['members']} members (tracemalloc, zlib included): "
        f"{mem['bytes_per_member_plain']} bytes per member without the stream, "
        f"{mem['bytes_per_member_stream']} with it ({mem['stream_over_plain']}x, the group's one "
        f"compressor included: {mem['stream_compressor_bytes']} bytes by zlib's formula, against "
        f"{mem['pmd_compressor_bytes_w12_m5']} bytes per connection for permessage-deflate at "
        "window 12, memory level 5). One zstd stream compressor (level 6, window log 22) holds "
        f"{mem['zstd_compressor_bytes_l6_w22']} bytes by zstd's estimate.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller streams, fewer broadcasts")
    args = parser.parse_args()
    import django

    django.setup()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "quick": args.quick,
        "bytes": measure_bytes(args.quick),
        "cpu": measure_cpu(args.quick),
        "memory": measure_memory(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "stream.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
