"""Keyed events and deltas: bytes, bytes under permessage-deflate, server CPU, client apply time.

Three keyed-update streams are generated (seeded, so every run sends the same updates):

* ``plan``: a 60-task workflow plan (the example project's shape) whose tasks go
  pending → in_progress → done one by one (121 versions);
* ``order book``: 40 price levels a side, each update changing, adding or removing a level;
* ``agent cards``: 12 agent status cards (one key each), updated one at a time.

For each stream it compares sending the full object every time (the v2 event frame, as without
``key=``) with keyed frames (what ``KeyedStreams`` sends: full, then deltas): bytes as sent, and
bytes after permessage-deflate (one zlib stream per connection with context takeover, at the
server's defaults: level 6, 12 window bits, memory level 5). It then measures the server CPU of a
keyed broadcast to 1,000 members against an unkeyed one through the real hub fan-out (fake
members whose sockets accept every frame), and the client's apply time in Node (``KeyedCache``
with the JavaScript ``Decoder``) against decoding full frames.

Run: ``python benchmarks/bench_delta.py`` (writes ``benchmarks/results/delta.json`` and
``delta.md``; ``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")

import django  # noqa: E402

django.setup()

from reznet_ws.codec import Codec  # noqa: E402
from reznet_ws.codec.entities import (  # noqa: E402
    EntityRules,
    EntityTable,
    entity_frame,
    split_entities,
    table_rows,
)
from reznet_ws.delivery.keyed import KeyedStreams  # noqa: E402
from reznet_ws.encoding import codec_for, default_field_map  # noqa: E402

__all__ = ["main", "markdown", "totals"]

RESULTS = ROOT / "benchmarks" / "results"
STAMP = "2025-10-25T12:{:02d}:{:02d}Z"


def plan_stream() -> list[tuple[str, dict[str, Any]]]:
    """The example's 60-task plan, then each task in_progress then done, one update each."""
    agents = ("@backend", "@frontend", "@qa", "@devops", "@docs")
    tasks = [
        {
            "id": f"task-{i:03d}",
            "name": f"Step {i}: ship the release",
            "description": f"Carry out part {i} of the plan for 'ship the release', then report.",
            "status": "pending",
            "order": i,
            "depends_on": [f"task-{i - 1:03d}"] if i > 1 else [],
            "agent_name": agents[i % len(agents)],
            "priority": "high" if i % 7 == 0 else "normal",
            "created_at": "2025-10-25T12:00:00Z",
            "updated_at": None,
        }
        for i in range(1, 61)
    ]
    plan = {
        "workflow_id": "7f1c2a9e-4b7d-4c1e-9a51-3f2e8d6b0c11",
        "channel_id": "general",
        "orchestrator": "@orchestrator",
        "description": "ship the release",
        "status": "planned",
        "total_tasks": 60,
        "completed_tasks": 0,
        "plan": {"tasks": tasks},
        "created_at": "2025-10-25T12:00:00Z",
    }
    out = [("plan:1", json.loads(json.dumps(plan)))]
    for n, task in enumerate(tasks):
        for status in ("in_progress", "done"):
            task["status"] = status
            task["updated_at"] = STAMP.format(n // 60 + 1, n % 60)
            plan["status"] = "running" if n < 59 or status != "done" else "completed"
            plan["completed_tasks"] = n + (status == "done")
            out.append(("plan:1", json.loads(json.dumps(plan))))
    return out


def book_stream(updates: int, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """An order book of 40 levels a side; each update changes, adds or removes one level."""
    rng = random.Random(seed)
    bids = [[round(100 - i * 0.05, 2), rng.randint(1, 500)] for i in range(40)]
    asks = [[round(100.05 + i * 0.05, 2), rng.randint(1, 500)] for i in range(40)]
    out = []
    for n in range(updates):
        side = bids if rng.random() < 0.5 else asks
        index = min(int(rng.expovariate(0.2)), len(side) - 1)  # most changes near the top
        roll = rng.random()
        if roll < 0.7:
            side[index][1] = rng.randint(1, 500)
        elif roll < 0.85 and len(side) > 30:
            del side[index]
        else:
            step = -0.025 if side is bids else 0.025
            side.insert(index, [round(side[index][0] + step, 3), rng.randint(1, 500)])
        book = {"symbol": "ACME", "sequence": n, "bids": bids, "asks": asks,
                "timestamp": STAMP.format(n // 3600 % 60, n % 60)}  # fmt: skip
        out.append(("book:ACME", json.loads(json.dumps(book))))
    return out


def card_stream(updates: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    """Twelve agent status cards, one key each; one card changes per update.

    A card holds the agent's profile (name, role, model, description, tools) and its live state;
    an update is a progress tick (progress, tokens, time) or a status change (status, task,
    time), as an agent's status card changes while it works.
    """
    rng = random.Random(seed)
    cards = {
        i: {
            "agent_id": f"agent-{i}",
            "agent_name": f"@agent{i}",
            "role": ["planner", "coder", "reviewer", "tester"][i % 4],
            "model": "gpt-demo",
            "description": f"Agent {i}: takes tasks from the orchestrator and reports progress.",
            "tools": ["search", "code", "shell", "browser"][: 2 + i % 3],
            "status": "idle",
            "current_task": None,
            "progress": 0.0,
            "tokens": 0,
            "updated_at": "2025-10-25T12:00:00Z",
        }
        for i in range(12)
    }
    out = [(f"agent:{i}", json.loads(json.dumps(card))) for i, card in cards.items()]
    for n in range(updates):
        i = rng.randrange(12)
        card = cards[i]
        if card["status"] == "working" and rng.random() < 0.7:
            card["progress"] = min(1.0, round(card["progress"] + rng.random() / 5, 2))
            card["tokens"] += rng.randint(10, 400)
        else:
            card["status"] = rng.choice(["idle", "thinking", "working"])
            card["current_task"] = (
                f"task-{rng.randint(1, 60):03d}" if card["status"] != "idle" else None
            )
            card["progress"] = 0.0
        card["updated_at"] = STAMP.format(n // 60 % 60, n % 60)
        out.append((f"agent:{i}", json.loads(json.dumps(card))))
    return out


def deflated(frames: list[str]) -> int:
    """Bytes of ``frames`` through one permessage-deflate stream at the server's defaults."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -12, 5)
    total = 0
    for frame in frames:
        data = compressor.compress(frame.encode("utf-8")) + compressor.flush(zlib.Z_SYNC_FLUSH)
        total += len(data) - 4  # RFC 7692: the trailing 00 00 ff ff is not sent
    return total


def _sent(codec: Codec, frame: str) -> bytes:
    # What the server sends without permessage-deflate: gzip for frames of 10 KB and more.
    payload, _ = codec.finalize(frame)
    return payload if isinstance(payload, bytes) else payload.encode("utf-8")


def keyed_frames(codec: Codec, event: str, updates: list[tuple[str, Any]]) -> list[str]:
    streams = KeyedStreams(10_000, 64 << 20, 100, 0.8)
    out = []
    for key, data in updates:
        step = streams.advance("", key, codec.encode_data(data), event)
        out.append(step.delta_frame(codec, event) or step.full_frame(codec, event))
    return out


def bytes_of(codec: Codec, name: str, event: str, updates: list[tuple[str, Any]]) -> dict[str, Any]:
    full = [codec.encode_event(event, data) for _, data in updates]
    keyed = keyed_frames(codec, event, updates)
    v1 = sum(len(codec.encode_v1(event, data)) for _, data in updates)
    size = sum(len(f.encode()) for f in full)
    keyed_size = sum(len(f.encode()) for f in keyed)
    gzip_size = sum(len(_sent(codec, f)) for f in full)
    keyed_gzip = sum(len(_sent(codec, f)) for f in keyed)
    full_z, keyed_z = deflated(full), deflated(keyed)
    return {
        "stream": name,
        "updates": len(updates),
        "v1_bytes": v1,
        "full_bytes": size,
        "keyed_bytes": keyed_size,
        "ratio": round(keyed_size / size, 4),
        "full_gzip_bytes": gzip_size,
        "keyed_gzip_bytes": keyed_gzip,
        "gzip_ratio": round(keyed_gzip / gzip_size, 4),
        "full_deflate_bytes": full_z,
        "keyed_deflate_bytes": keyed_z,
        "deflate_gain": round(full_z / keyed_z, 2),
        "delta_frames": sum(1 for f in keyed if '"x":' in f[:200]),
        "_keyed": keyed,
        "_full": full,
    }


class _FakeOutbox:
    """A member socket that takes every prepared frame at once (CPU is what is measured)."""

    closed = False

    def backlog(self) -> int:
        return 0

    def write_frame(self, frame: bytes) -> bool:
        return True


def _keyed(conn: Any) -> None:
    conn.keyed = KeyedStreams.from_settings()


async def _fanout_cpu(
    members: int,
    rounds: int,
    updates: list[Any],
    event_name: str,
    prefix: str,
    *,
    setup: Callable[[Any], None] | None = None,
    keyed: bool = False,
) -> float:
    """CPU ms per ``hub.fanout`` of ``updates`` as ``event_name`` to ``members`` fake sockets.

    ``setup`` is called with each connection; with ``keyed`` each update goes under its key.
    """
    from reznet_ws.delivery.connection import Connection
    from reznet_ws.delivery.hub import Hub
    from reznet_ws.encoding import EncodedEvent, broadcast_cache

    codec = codec_for(default_field_map())

    async def send(message: Any) -> None:
        pass

    conns = []
    for _ in range(members):
        conn = Connection(send)
        conn.outbox = _FakeOutbox()  # type: ignore[assignment]
        conn.version, conn.codec, conn.accepted = 2, codec, True
        if setup is not None:
            setup(conn)
        conns.append(conn)
    hub = Hub(object())
    hub.groups["g"] = weakref.WeakSet(conns)
    cpu = 0.0
    for n in range(rounds):
        key, data = updates[n % len(updates)]
        event = EncodedEvent(event_name, data)
        message_id = f"{prefix}{n}"
        broadcast_cache().put(message_id, event)
        message = {"type": "reznet.event", "group": "g", "id": message_id,
                   "event": event_name, "v1": event.v1_text(codec), "optimize": True,
                   "batch": False}  # fmt: skip
        if keyed:
            message["key"] = key
        start = time.process_time()
        await hub.fanout(message)
        cpu += time.process_time() - start
    return cpu / rounds * 1000


def server_cpu(members: int, rounds: int, updates: list[Any]) -> dict[str, Any]:
    """CPU ms per broadcast of the same plan updates, unkeyed and keyed, to ``members``."""
    plan = (members, rounds, updates, "workflow_plan")
    plain = asyncio.run(_fanout_cpu(*plan, "mFalse"))
    keyed = asyncio.run(_fanout_cpu(*plan, "mTrue", setup=_keyed, keyed=True))
    return {
        "members": members,
        "rounds": rounds,
        "unkeyed_ms": round(plain, 3),
        "keyed_ms": round(keyed, 3),
        "ratio": round(keyed / plain, 2),
    }


# Best of ``runs`` timings per stream, in µs per frame: keyed frames through a KeyedCache, the
# full frames decoded. Node runs it as a script, Chromium as a page function.
_MEASURE_JS = """(input, runs, Decoder, KeyedCache) => {
  const options = { fieldMap: input.field_map, timestampFields: input.timestamp_fields };
  const decoder = new Decoder(options);
  const out = {};
  for (const stream of input.streams) {
    const time = (fn) => {
      let best = Infinity;
      for (let r = 0; r < runs; r++) {
        const start = performance.now();
        fn();
        best = Math.min(best, performance.now() - start);
      }
      return (best * 1000) / stream.keyed.length;
    };
    const keyedUs = time(() => {
      const cache = new KeyedCache();
      for (const text of stream.keyed) cache.receive(JSON.parse(text), decoder);
    });
    const fullUs = time(() => {
      for (const text of stream.full) decoder.decodeFrameObject(JSON.parse(text));
    });
    out[stream.name] = { keyed_us: +keyedUs.toFixed(2), full_us: +fullUs.toFixed(2) };
  }
  return out;
}"""

_NODE = f"""
import {{ readFileSync }} from "node:fs";
import {{ Decoder, KeyedCache }} from "%s";
const measure = {_MEASURE_JS};
const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
console.log(JSON.stringify(measure(input, 7, Decoder, KeyedCache)));
"""


def client_apply(codec: Codec, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean µs per frame in Node: keyed frames through KeyedCache, full frames decoded."""
    module = (ROOT / "reznet_ws/static/reznet_ws/reznet-ws.js").as_uri()
    payload = {
        "field_map": dict(codec.field_map.mapping),
        "timestamp_fields": sorted(codec.field_map.timestamp_fields),
        "streams": [
            {"name": s["stream"], "keyed": s["_keyed"], "full": s["_full"]} for s in streams
        ],
    }
    browser = browser_apply(payload) if os.environ.get("BENCH_CHROMIUM", "1") == "1" else None
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "frames.json", Path(tmp) / "apply.mjs"
        data.write_text(json.dumps(payload))
        script.write_text(_NODE % module)
        done = subprocess.run(
            ["node", str(script), str(data)], capture_output=True, text=True, timeout=300
        )
    if done.returncode:
        raise RuntimeError(f"node failed: {done.stderr[-2000:]}")
    node: dict[str, Any] = json.loads(done.stdout)
    if browser:
        for name, figures in browser.items():
            node[name]["chromium_keyed_us"] = figures["keyed_us"]
            node[name]["chromium_full_us"] = figures["full_us"]
    return node


def totals(result: dict[str, Any]) -> dict[str, Any]:
    """Return the byte sums over the three streams, with their ratios."""
    names = ("full_bytes", "keyed_bytes", "full_deflate_bytes", "keyed_deflate_bytes")
    out: dict[str, Any] = {k: sum(s[k] for s in result["streams"]) for k in names}
    out["ratio"] = out["keyed_bytes"] / out["full_bytes"]
    out["deflate_gain"] = out["full_deflate_bytes"] / out["keyed_deflate_bytes"]
    return out


_BROWSER_JS = f"""async ([input, runs]) => {{
  const {{ Decoder, KeyedCache }} = await import("/reznet-ws.js");
  return ({_MEASURE_JS})(input, runs, Decoder, KeyedCache);
}}"""


def browser_apply(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The same timing as :func:`client_apply` in headless Chromium; None without Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    chromium = os.environ.get("REZNET_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return None
    static = ROOT / "reznet_ws/static/reznet_ws"
    args = ["--no-sandbox", "--disable-gpu", "--headless=new"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page()
        # The client is served from a made-up origin, so its relative import resolves.
        page.route(
            "http://bench.invalid/**",
            lambda route: route.fulfill(
                body=(static / route.request.url.rsplit("/", 1)[-1]).read_text()
                if route.request.url.endswith(".js")
                else "<!doctype html><title>bench</title>",
                content_type="text/javascript"
                if route.request.url.endswith(".js")
                else "text/html",
            ),
        )
        page.goto("http://bench.invalid/index.html")
        result: dict[str, Any] = page.evaluate(_BROWSER_JS, [payload, 7])
        browser.close()
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Keyed events and deltas",
        "",
        f"Command: `{result['command']}` ({result['python']}, {result['machine']}). Full frames are"
        " the v2 event frames sent without `key=`; keyed frames what the server sends with it (the"
        " full object first, then deltas; a full object again every 100 deltas). Deflate: one"
        " permessage-deflate stream per connection at the server's defaults (level 6, 12 window"
        " bits, memory level 5).",
        "",
        "| stream | updates | v1 bytes | full frames | keyed frames | keyed / full | with app gzip"
        " (full, keyed, ratio) | full + deflate | keyed + deflate | deflate gain |"
        " client µs / frame, Node (keyed, full) | Chromium (keyed, full) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result["streams"]:
        apply = result["client"].get(s["stream"], {})
        lines.append(
            f"| {s['stream']} | {s['updates']} | {s['v1_bytes']:,} | {s['full_bytes']:,} | "
            f"{s['keyed_bytes']:,} | {s['ratio']:.3f}x | {s['full_gzip_bytes']:,}, "
            f"{s['keyed_gzip_bytes']:,}, {s['gzip_ratio']:.3f}x | {s['full_deflate_bytes']:,} | "
            f"{s['keyed_deflate_bytes']:,} | {s['deflate_gain']:.2f}x | "
            f"{apply.get('keyed_us', '-')} / {apply.get('full_us', '-')} | "
            f"{apply.get('chromium_keyed_us', '-')} / {apply.get('chromium_full_us', '-')} |"
        )
    total = totals(result)
    lines.append(
        f"| all three | | | {total['full_bytes']:,} | {total['keyed_bytes']:,} | "
        f"{total['ratio']:.3f}x | | {total['full_deflate_bytes']:,} | "
        f"{total['keyed_deflate_bytes']:,} | {total['deflate_gain']:.2f}x | | |"
    )
    misses = [
        f"{s['stream']} ({s['ratio']:.3f}x of the bytes, deflate gain {s['deflate_gain']:.2f}x)"
        for s in result["streams"]
        if s["ratio"] > 0.2 or s["deflate_gain"] < 2
    ]
    if misses:
        lines += [
            "",
            "Per stream, the targets are missed by: " + "; ".join(misses) + ". Small objects"
            " (a status card of about 280 bytes, a book of 40 levels a side) changing a few"
            " fields at a time: a delta frame carries its key, version and paths, while"
            " permessage-deflate already turns consecutive full frames, which differ in those"
            " few fields, into a few dozen bytes each.",
        ]
    cpu = result["cpu"]
    lines += [
        "",
        f"Server CPU per broadcast of the plan updates to {cpu['members']:,} members"
        f" (in-process, real hub fan-out, fake members; mean of {cpu['rounds']}): unkeyed"
        f" {cpu['unkeyed_ms']} ms,"
        f" keyed {cpu['keyed_ms']} ms, **{cpu['ratio']}x** (target ≤ 1.5x). Targets for bytes:"
        " keyed / full ≤ 0.2x without transport compression, deflate gain ≥ 2x. Client apply"
        " time: mean per frame over the stream (best of 7 runs) in Node and in headless Chromium"
        " (Debian's, when installed; `BENCH_CHROMIUM=0` leaves it out), a keyed frame applied"
        " and the whole object decoded against a full frame decoded.",
        "",
    ]
    if "entities" in result:
        lines.append(entity_markdown(result["entities"]))
    return "\n".join(lines)


# ------------------------------------------------------------------- entity references

AGENT_PROFILE = {
    "agent_id": "agent-7f3a",
    "agent_name": "@orchestrator",
    "role": "orchestrator",
    "model": "gpt-demo",
    "provider": "reznet",
    "description": "Plans workflows and answers questions addressed to @orchestrator.",
}


def chat_stream(messages: int, seed: int = 5) -> list[tuple[str, dict[str, Any]]]:
    """Chat messages in the example's shape: every third is the agent's, with its profile."""
    rng = random.Random(seed)
    users = [f"user-{n:02d}" for n in range(8)]
    authors = {
        name: {
            "author_id": name,
            "author_name": f"@{name}",
            "avatar": f"https://cdn.example.com/avatars/{name}.png",
            "role": rng.choice(["member", "admin", "guest"]),
            "joined_at": STAMP.format(rng.randrange(60), rng.randrange(60)),
        }
        for name in users
    }
    out = []
    for n in range(messages):
        base = {
            "message_id": f"m-{n:05d}",
            "channel_id": "general",
            "content": " ".join(rng.choice(["ship", "the", "plan", "now", "ok"]) for _ in range(8)),
            "created_at": STAMP.format(n // 60 % 60, n % 60),
            "updated_at": None,
        }
        if n % 3 == 2:
            base.update(author_type="agent", agent=AGENT_PROFILE)
        else:
            base.update(author_type="user", author=authors[rng.choice(users)])
        out.append(("", base))
    return out


def entity_bytes(codec: Codec, updates: list[tuple[str, Any]]) -> dict[str, Any]:
    """Bytes of a chat stream on one connection, without and with entity references."""
    rules = EntityRules({"agent": "agent_id", "author": "author_id"}, codec.field_map, 4096)
    table = EntityTable(256)
    full, refs = [], []
    for _, data in updates:
        text = codec.encode_data(data)
        full.append(codec.event_frame("message_new", text))
        parts = split_entities(json.loads(text), rules)
        if parts is None:
            refs.append(full[-1])
            continue
        missing = table.missing(parts.entities)
        rows = table_rows(parts.entities, missing, table.items, 0.8)
        refs.append(entity_frame(codec, "message_new", parts.data, rows))
        table.store([parts.entities[i] for i in missing])
    size, ref_size = sum(len(f.encode()) for f in full), sum(len(f.encode()) for f in refs)
    full_z, refs_z = deflated(full), deflated(refs)
    return {
        "stream": "chat (8 author profiles, the agent's profile)",
        "messages": len(updates),
        "v1_bytes": sum(len(codec.encode_v1("message_new", d)) for _, d in updates),
        "full_bytes": size,
        "ref_bytes": ref_size,
        "ratio": round(ref_size / size, 4),
        "full_deflate_bytes": full_z,
        "ref_deflate_bytes": refs_z,
        "deflate_ratio": round(refs_z / full_z, 4),
    }


def _with_refs(conn: Any) -> None:
    conn.keyed = KeyedStreams.from_settings()
    conn.entities = EntityTable(256)


def _without_refs(conn: Any) -> None:
    conn.keyed = KeyedStreams.from_settings()
    conn.entities = None


def entity_cpu(members: int, rounds: int, updates: list[Any]) -> dict[str, Any]:
    """CPU ms per broadcast of chat messages to ``members``, with and without references."""
    from django.test import override_settings

    rules = {"author": "author_id", "agent": "agent_id"}
    with override_settings(REZNET_WS={"ENTITIES": rules}):
        chat = (members, rounds, updates, "message_new")
        plain = asyncio.run(_fanout_cpu(*chat, "eFalse", setup=_without_refs))
        refs = asyncio.run(_fanout_cpu(*chat, "eTrue", setup=_with_refs))
    return {
        "members": members,
        "rounds": rounds,
        "plain_ms": round(plain, 3),
        "refs_ms": round(refs, 3),
        "ratio": round(refs / plain, 2),
    }


def entity_markdown(entities: dict[str, Any]) -> str:
    e = entities
    return "\n".join(
        [
            "### Entity references",
            "",
            f"Command: `{e['command']}`. {e['messages']} `message_new` events of one connection"
            " in the example's shape, each user message with its author's profile (8 authors),"
            " every third the agent's reply with the agent's profile, sent as v2 event frames"
            ' and with entity references (`ENTITIES = {"author": "author_id", "agent":'
            ' "agent_id"}`).',
            "",
            "| stream | messages | v1 bytes | event frames | with references | ratio |"
            " event frames + deflate | with references + deflate | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {e['stream']} | {e['messages']} | {e['v1_bytes']:,} | {e['full_bytes']:,} |"
            f" {e['ref_bytes']:,} | {e['ratio']:.3f}x | {e['full_deflate_bytes']:,} |"
            f" {e['ref_deflate_bytes']:,} | {e['deflate_ratio']:.3f}x |",
            "",
            *_entity_cpu_lines(e.get("cpu")),
        ]
    )


def _entity_cpu_lines(cpu: dict[str, Any] | None) -> list[str]:
    if not cpu:
        return []
    return [
        f"Server CPU per broadcast of these messages to {cpu['members']:,} members (in-process,"
        f" real hub fan-out, fake members; mean of {cpu['rounds']}): event frames"
        f" {cpu['plain_ms']} ms, with references {cpu['refs_ms']} ms, **{cpu['ratio']}x**.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates and rounds")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--entities", action="store_true", help="only the entity case, into delta.json's results"
    )
    args = parser.parse_args(argv)
    codec = Codec(default_field_map(), json_backend="stdlib")
    entities = entity_bytes(codec, chat_stream(300))
    entities["command"] = "python benchmarks/bench_delta.py --entities"
    entities["cpu"] = entity_cpu(args.members, 20 if args.quick else 60, chat_stream(300))
    if args.entities:
        path = args.out / "delta.json"
        previous = json.loads(path.read_text()) if path.exists() else None
        if previous is not None:
            previous["entities"] = entities
            path.write_text(json.dumps(previous, indent=1) + "\n")
            (args.out / "delta.md").write_text(markdown(previous))
        print(entity_markdown(entities))
        return 0
    updates = 100 if args.quick else 400
    plan = plan_stream()
    streams = [
        bytes_of(codec, "plan (60 tasks)", "workflow_plan", plan),
        bytes_of(codec, "order book", "book", book_stream(updates)),
        bytes_of(codec, "agent cards", "agent_status", card_stream(updates)),
    ]
    client = client_apply(codec, streams)
    cpu = server_cpu(args.members, 20 if args.quick else 60, plan)
    command = "python benchmarks/bench_delta.py" + (" --quick" if args.quick else "")
    result = {
        "command": command,
        "python": f"Python {platform.python_version()}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "streams": [{k: v for k, v in s.items() if not k.startswith("_")} for s in streams],
        "cpu": cpu,
        "client": client,
        "entities": entities,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "delta.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "delta.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
