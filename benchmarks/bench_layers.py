"""Channel-layer benchmark: BatchingChannelLayer against the same channels_redis layer unwrapped.

Run: ``python benchmarks/bench_layers.py`` (writes benchmarks/results/layers.json, prints markdown).

Per inner layer (channels_redis core, then pub/sub) and per mode (unwrapped, batched), in one run:
50 group members in one process, one producer sending 1,000 ``group_send`` calls as fast as the
layer lets it; wall time until the last member got the last message, messages delivered per
second, and the Redis commands executed (``INFO commandstats`` deltas; Lua-script inner calls
included). A paced probe (100 sends at 100/s) measures delivery latency, which is where the
window shows. Redis is a private redis-server on a free port, so nothing else is counted; pass
``--redis-url`` to use another (its figures then include other clients' commands).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median, quantiles
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from django.utils.module_loading import import_string

from reznet_ws.layers import BatchingChannelLayer

RESULTS = Path(__file__).resolve().parent / "results"
INNERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
clock = time.monotonic


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: install it, or pass --redis-url")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        process = subprocess.Popen(
            [*command, "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            yield url
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=10)


def redis_commands(client: redis.Redis) -> int:
    """Total commands Redis executed so far, not counting our own INFO calls."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = quantiles(values, n=100, method="inclusive")
    ms = 1000.0
    return {
        "p50_ms": round(cuts[49] * ms, 2),
        "p99_ms": round(cuts[98] * ms, 2),
        "max_ms": round(max(values) * ms, 2),
    }


def make_layer(inner: str, url: str, batched: bool, window: float, max_batch: int) -> Any:
    config: dict[str, Any] = {"hosts": [url], "prefix": f"bench{uuid.uuid4().hex[:8]}"}
    if inner == "core":
        config["capacity"] = 1_000_000  # so that neither mode drops messages
    if batched:
        inner_config = {"BACKEND": INNERS[inner], "CONFIG": config}
        return BatchingChannelLayer(inner=inner_config, window=window, max_batch=max_batch)
    return import_string(INNERS[inner])(**config)


async def run(
    inner: str,
    url: str,
    batched: bool,
    *,
    members: int,
    messages: int,
    pace: float,
    window: float,
    max_batch: int,
    timeout: float,
) -> dict[str, Any]:
    """One scenario; ``pace`` > 0 spaces the sends (latency probe), 0 sends flat out."""
    client = redis.Redis.from_url(url)
    layer = make_layer(inner, url, batched, window, max_batch)
    group = f"bench{uuid.uuid4().hex[:8]}"
    channels = [await layer.new_channel() for _ in range(members)]
    for channel in channels:
        await layer.group_add(group, channel)
    latencies: list[float] = []
    finished: list[float] = []
    in_order = True

    async def member(channel: str) -> None:
        nonlocal in_order
        for expected in range(messages):
            message = await layer.receive(channel)
            latencies.append(clock() - message["t"])
            in_order = in_order and message["n"] == expected
        finished.append(clock())

    await asyncio.sleep(0.2)  # let pub/sub subscriptions settle
    before = redis_commands(client)
    receivers = asyncio.gather(*(member(c) for c in channels))
    start = clock()
    for n in range(messages):
        await layer.group_send(group, {"type": "bench.message", "n": n, "t": clock()})
        if pace:
            await asyncio.sleep(pace)
    sent = clock()
    complete = True
    try:
        await asyncio.wait_for(receivers, timeout)
    except TimeoutError:
        complete = False
    if hasattr(layer, "wait_received"):
        await layer.wait_received()  # channels_redis core: its receive clean-up commands
    commands = redis_commands(client) - before
    wall = (max(finished) if complete else clock()) - start
    await layer.flush()
    client.close()
    delivered = len(latencies)
    return {
        "inner": inner,
        "mode": "batched" if batched else "unwrapped",
        "members": members,
        "group_sends": messages,
        "delivered": delivered,
        "complete": complete and delivered == members * messages,
        "in_order": in_order,
        "send_s": round(sent - start, 3),
        "wall_s": round(wall, 3),
        "delivered_per_s": round(delivered / wall),
        "redis_commands": commands,
        "commands_per_group_send": round(commands / messages, 2),
        "latency": percentiles(latencies) if latencies else {},
        "layer_stats": dict(layer.stats) if batched else {},
    }


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    common = {"window": args.window, "max_batch": args.max_batch, "timeout": args.timeout}
    for inner in args.inners:
        for repeat in range(args.repeat):
            for batched in (False, True):
                row = await run(
                    inner, url, batched, members=args.members, messages=args.messages, pace=0,
                    **common,
                )  # fmt: skip
                row["repeat"] = repeat
                rows.append(row)
                print(f"  throughput {inner} {row['mode']}: {row['wall_s']} s", file=sys.stderr)
        for batched in (False, True):
            row = await run(
                inner, url, batched, members=args.members, messages=args.probe, pace=0.01,
                **common,
            )  # fmt: skip
            row["probe"] = True
            rows.append(row)
            print(f"  latency {inner} {row['mode']}: {row['latency']}", file=sys.stderr)
    return summarize(rows, args)


def summarize(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for inner in args.inners:

        def pick(mode: str, probe: bool, inner: str = inner) -> list[dict[str, Any]]:
            return [
                r
                for r in rows
                if r["inner"] == inner and r["mode"] == mode and r.get("probe", False) == probe
            ]

        plain, batched = pick("unwrapped", False), pick("batched", False)
        plain_probe, batched_probe = pick("unwrapped", True)[0], pick("batched", True)[0]
        wall = {m: median(r["wall_s"] for r in rs) for m, rs in (("u", plain), ("b", batched))}
        cmds = {
            m: median(r["redis_commands"] for r in rs) for m, rs in (("u", plain), ("b", batched))
        }
        summary[inner] = {
            "throughput_ratio": round(wall["u"] / wall["b"], 2),
            "command_ratio": round(cmds["u"] / cmds["b"], 2),
            "added_latency_p50_ms": round(
                batched_probe["latency"]["p50_ms"] - plain_probe["latency"]["p50_ms"], 2
            ),
            "added_latency_p99_ms": round(
                batched_probe["latency"]["p99_ms"] - plain_probe["latency"]["p99_ms"], 2
            ),
            "buffer_wait_max_ms": batched_probe["layer_stats"].get("max_wait_ms"),
            "window_ms": args.window * 1000,
        }
    return {
        "benchmark": "bench_layers",
        "command": "python benchmarks/bench_layers.py " + " ".join(sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "config": {
            k: os.path.relpath(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
        "rows": rows,
        "summary": summary,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| inner | mode | run | wall s | delivered/s | Redis cmds | cmds/send | p50 ms | p99 ms |"
        " max ms | ok |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        kind = "latency probe" if r.get("probe") else "throughput"
        lat = r["latency"]
        ok = "yes" if r["complete"] and r["in_order"] else "NO"
        lines.append(
            f"| {r['inner']} | {r['mode']} | {kind} | {r['wall_s']} | {r['delivered_per_s']:,} "
            f"| {r['redis_commands']:,} | {r['commands_per_group_send']} | {lat.get('p50_ms')} "
            f"| {lat.get('p99_ms')} | {lat.get('max_ms')} | {ok} |"
        )
    lines.append("")
    for inner, s in result["summary"].items():
        lines.append(
            f"- **{inner}**: {s['command_ratio']}x fewer Redis commands, "
            f"{s['throughput_ratio']}x the throughput (median wall time), added latency "
            f"p50 {s['added_latency_p50_ms']} ms / p99 {s['added_latency_p99_ms']} ms, longest "
            f"buffer wait {s['buffer_wait_max_ms']} ms (window {s['window_ms']:.0f} ms)"
        )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--messages", type=int, default=1000, help="group_send calls")
    parser.add_argument("--probe", type=int, default=100, help="paced sends (latency probe)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per mode")
    parser.add_argument("--window", type=float, default=0.05)
    parser.add_argument("--max-batch", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per scenario")
    parser.add_argument("--inners", nargs="+", default=list(INNERS), choices=list(INNERS))
    parser.add_argument("--redis-url", default=None, help="default: a private redis-server")
    parser.add_argument("--output", type=Path, default=RESULTS / "layers.json")
    args = parser.parse_args()
    if args.redis_url:
        result = asyncio.run(bench(args, args.redis_url))
    else:
        with private_redis() as url:
            result = asyncio.run(bench(args, url))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
