"""Write docs/benchmarks.md from the results under benchmarks/results/.

Run: ``python benchmarks/report.py`` (``make bench`` runs every benchmark, then this). The page
opens with one summary table computed from the result files, then the plots, then one section per
benchmark with the command that produced its figures.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))

Row = tuple[str, str, str, str, str]  # question, figure, target, verdict, link

INTRO = """# Benchmarks

Every figure on this page is read from a result file in `benchmarks/results/`, written by the
script named next to it; the machine is the project's 2-core x86_64 Linux box, shared with other
work, so single figures move from run to run (runs measured while the machine was busy say so).
To reproduce them on yours (Redis on 127.0.0.1, see `make services`):

```console
$ make bench
```

`make bench` runs `python benchmarks/run_all.py` (the soak run alone takes over 10 minutes;
`make bench SKIP="soak deflate"` leaves those out and keeps their last results), then
`python benchmarks/report.py`, which rewrites this page from the result files. Each section below
gives the command that reruns its benchmark alone.
"""

#: The wsbench result files shown, in this order: the standard set (``wsbench --suite``) and the
#: runs of ours on reznet-daphne (``run_all.py``). A file relabelled by hand is not shown.
LOAD_RUNS = (
    "load-inmemory",
    "load-inmemory-hub-reznet",
    "load-isolated-hub-reznet",
    "load-redis-hub-reznet",
    "load-redis-pubsub-hub-reznet",
    "load-redis-2srv-hub-reznet",
    "load-inmemory-hub-deflate",
    "load-inmemory-hub-deflate-context",
    "load-scale-2000",
    "load-scale-10k",
    "load-scale-20k-2srv",
    "load-isolated",
    "load-redis",
    "load-redis-pubsub",
    "load-redis-pubsub-2srv",
    "load-loadgen-procs1",
    "load-loadgen-wsclient",
)

#: One plot per question: (question, wsbench result file whose plot answers it).
PLOTS = (
    ("How latency grows with the connections, plain Channels against reznet_ws", "load-inmemory"),
    ("1,000 connections on reznet-daphne", "load-inmemory-hub-reznet"),
    ("2,000 connections over two processes and Redis", "load-redis-2srv-hub-reznet"),
)

LOAD_INTRO = """## Load and latency

Command: `python benchmarks/wsbench.py` (the same as `python manage.py wsbench`, see
[load testing](load-testing.md)); each subsection gives its options. Daphne or reznet-daphne on
127.0.0.1, a fresh server process for every row, the example trace (`benchmarks/trace.py`)
broadcast at a fixed rate, the send time stamped inside the server, the receive time taken from
the client kernel's timestamp of the frame. Server kinds: *baseline* is plain Channels
(`group_send` + handler + `send_json`); *ours* is the consumer mixin with members joined by
`join_group()` (the process hub, [fan-out](fanout.md)); *ours-group-add* is the same mixin with
members joined by `channel_layer.group_add`, so that Channels dispatches every recipient.
"""

SOAK_INTRO = """## Soak: 1,000 connections, 10 minutes, Redis restarted empty

`benchmarks/soak.py` starts its own `redis-server` (no persistence) on 127.0.0.1, stops it with
SIGTERM halfway and starts it again, empty, on the same port; two server processes of
`benchmarks/soak_app.py` on a channels_redis core layer: reznet-daphne
(`--no-permessage-deflate`) and plain daphne, half the clients each (one in 25 speaking
`reznet.v2`), all members of one room joined with `join_group()`. The load generator shouts
`n = 0, 1, 2 ...` alternately to each server; each server broadcasts it to the room and tells the
shouter whether the layer accepted it. RSS and open descriptors come from `/proc/<pid>` every
10 s. Defaults: `--duration 600 --connections 1000 --rate 10 --outage 5`, Redis stopped at half
time.
"""

LAYERS_INTRO = """## Batching channel layer

Command: `python benchmarks/bench_layers.py` (50 group members x 1,000 `group_send`, a private
redis-server; medians of 3 runs). See [batching channel layer](batching-layer.md).
"""

MIGRATION_INTRO = """## Migrating from plain Channels

The steps of [migrating from Channels](migration.md), each delivering the chat messages of the
example trace to local members of one process (in-memory layer, stats on, ASGI `send` in process,
no sockets), best of the rounds.
"""


# ------------------------------------------------------------------------------- inputs


def load_json(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_md(name: str) -> str:
    path = RESULTS / f"{name}.md"
    return path.read_text().strip() + "\n" if path.exists() else ""


def load_docs() -> dict[str, dict[str, Any]]:
    """The wsbench results shown on the page: current ones, in :data:`LOAD_RUNS` order."""
    docs = {}
    for name in LOAD_RUNS:
        doc = load_json(name)
        if doc is not None and "Measured before" not in (doc.get("note") or ""):
            docs[name] = {key: value for key, value in doc.items() if key != "note"}
    return docs


def anchor(heading: str) -> str:
    """The id Python-Markdown's toc extension gives ``heading``."""
    text = re.sub(r"[^\w\s-]", "", heading.strip("# ").lower())
    return "#" + re.sub(r"[-\s]+", "-", text).strip("-")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def run_of(doc: dict[str, Any] | None, target: str, clients: int) -> dict[str, Any] | None:
    runs = doc["runs"] if doc else []
    return next((r for r in runs if r["target"] == target and r["clients"] == clients), None)


def ms(value: float | None) -> str:
    if value is None:
        return "undelivered"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def flag(run: dict[str, Any]) -> str:
    notes = []
    if run["saturated"]:
        notes.append("saturated")
    if run["machine_busy"] or not run["loadgen_ok"]:
        notes.append(f"machine {run['machine_cpu_pct']:.0f} % busy: an upper bound")
    return f" ({', '.join(notes)})" if notes else ""


# ------------------------------------------------------------------------------- summary


def payload_rows(payload: dict[str, Any] | None, loads: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    link = anchor("Payload size and encode time")
    if payload:
        typical = payload["rows"]["typical (no plans)"]["v2_reduction_pct"]
        full = payload["rows"]["full trace"]["v2_gzip_reduction_pct"]
        rows.append(
            (
                "How much smaller are v2 payloads than plain Channels JSON, typical events?",
                f"{typical} % smaller (whole trace, with gzip frames of the large plans: {full} %)",
                "> 40 % smaller",
                verdict(typical > 40),
                link,
            )
        )
    doc = loads.get("load-inmemory")
    base, ours = run_of(doc, "baseline", 100), run_of(doc, "ours", 100)
    if base and ours:
        saved = 100 * (1 - ours["payload_bytes_per_message"] / base["payload_bytes_per_message"])
        rows.append(
            (
                "How many fewer payload bytes reach each client over the example trace?",
                f"{saved:.0f} % fewer ({ours['payload_bytes_per_message']:.0f} B against "
                f"{base['payload_bytes_per_message']:.0f} B per event)",
                "> 40 % smaller",
                verdict(saved > 40),
                anchor("load-inmemory"),
            )
        )
    names = {
        "orjson": "with orjson (`reznet-ws[fast]`)",
        "stdlib": "with the standard library's `json`",
    }
    for backend, streams in (payload or {}).get("full_path", {}).items():
        cells = [f"{row['ratio']}x on the {stream}" for stream, row in streams.items()]
        worst = max((row["ratio"] for row in streams.values()), default=float("inf"))
        rows.append(
            (
                "What does `send_event()` cost per message against plain `send_json()`, "
                f"{names.get(backend, backend)}?",
                "; ".join(cells),
                "≤ 1.0x on both streams",
                verdict(worst <= 1.0),
                anchor("Per-message encode cost"),
            )
        )
    return rows


def latency_rows(loads: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, where in (
        ("load-inmemory-hub-reznet", "reznet-daphne"),
        ("load-inmemory", "plain daphne"),
    ):
        run = run_of(loads.get(name), "ours", 1000)
        if run:
            lat = run["latency_ms"]
            rows.append(
                (
                    f"Broadcast latency at 1,000 connections, 10 broadcasts/s, on {where}?",
                    f"p95 {ms(lat['p95'])}, p99 {ms(lat['p99'])}{flag(run)}",
                    "p95 < 100 ms",
                    verdict(lat["p95"] is not None and lat["p95"] < 100),
                    anchor(name),
                )
            )
    best = None
    for name, doc in loads.items():
        for run in doc["runs"]:
            p95 = run["latency_ms"]["p95"]
            if run["target"] == "ours" and not run["lost"] and p95 is not None and p95 < 100:
                if best is None or run["clients"] > best[1]["clients"]:
                    best = (name, run)
    if best:
        name, run = best
        rows.append(
            (
                "How many users does one deployment serve within the latency target?",
                f"{run['clients']:,} connections over {run['servers']} process"
                f"{'es' if run['servers'] > 1 else ''} ({run['layer']} layer): "
                f"p95 {ms(run['latency_ms']['p95'])}, nothing lost",
                "100+ users",
                verdict(run["clients"] >= 100),
                anchor(name),
            )
        )
    return rows


def cpu_rows(loads: dict[str, Any]) -> list[Row]:
    parts = []
    for name, target, label in (
        ("load-inmemory-hub-reznet", "ours", "reznet_ws on reznet-daphne"),
        ("load-inmemory", "ours", "reznet_ws on daphne"),
        ("load-inmemory", "baseline", "plain Channels"),
    ):
        run = run_of(loads.get(name), target, 1000)
        if run:
            bound = "≥ " if run["saturated"] else ""
            parts.append(f"{label} {bound}{run['server_cpu_per_broadcast_ms']:.0f} ms")
    if not parts:
        return []
    return [
        (
            "Server CPU per broadcast to 1,000 connections?",
            "; ".join(parts),
            "-",
            "-",
            anchor("Load and latency"),
        )
    ]


#: Prepared-frame and scale runs: (file, clients, question, p99 target ms, CPU/floor target,
#: RSS per connection target KB).
SCALE_RUNS = (
    ("load-inmemory-hub-reznet", 1000, "1,000 connections, 10/s, reznet-daphne", 30, 2.0, None),
    (
        "load-inmemory-hub-deflate",
        1000,
        "1,000 connections, 10/s, every client on permessage-deflate",
        None,
        3.0,
        40,
    ),
    ("load-scale-2000", 2000, "2,000 connections in one process, 10/s", 50, None, None),
    ("load-scale-10k", 10000, "10,000 connections in one process, 1/s for 60 s", 100, None, None),
    (
        "load-scale-20k-2srv",
        20000,
        "20,000 connections over two processes and Redis, 1/s for 60 s",
        100,
        None,
        None,
    ),
)


def scale_rows(loads: dict[str, Any]) -> list[Row]:
    """Prepared frames at scale: p99, server CPU per broadcast against the floor of the run."""
    rows: list[Row] = []
    for name, clients, question, p99_target, ratio_target, rss_target in SCALE_RUNS:
        run = run_of(loads.get(name), "ours", clients)
        if not run or not run.get("cpu_to_floor"):
            continue
        p99 = run["latency_ms"]["p99"]
        figure = (
            f"p99 {ms(p99)}, lost {run['lost']}, CPU per broadcast "
            f"{run['server_cpu_per_broadcast_ms']:.1f} ms = {run['cpu_to_floor']:.2f}x the floor "
            f"({run['floor_ms_per_broadcast']:.1f} ms), RSS {run['rss_per_connection_kb']:.0f} KB"
            f"/connection{flag(run)}"
        )
        targets, ok = [], run["lost"] == 0
        if p99_target is not None:
            targets.append(f"p99 < {p99_target} ms")
            ok = ok and p99 is not None and p99 < p99_target
        if ratio_target is not None:
            targets.append(f"CPU ≤ {ratio_target:g}x floor")
            ok = ok and run["cpu_to_floor"] <= ratio_target
        if rss_target is not None:
            targets.append(f"RSS < {rss_target} KB")
            ok = ok and run["rss_per_connection_kb"] < rss_target
        targets.append("nothing lost")
        rows.append((f"{question}?", figure, ", ".join(targets), verdict(ok), anchor(name)))
    return rows


def loss_rows(loads: dict[str, Any], soak: dict[str, Any] | None) -> list[Row]:
    rows: list[Row] = []
    ours = [r for doc in loads.values() for r in doc["runs"] if r["target"] == "ours"]
    if ours:
        lost = sum(r["lost"] for r in ours)
        sent = sum(r["expected_deliveries"] for r in ours)
        rows.append(
            (
                "Is anything lost under load (every load run of reznet_ws)?",
                f"{lost:,} of {sent:,} deliveries lost",
                "nothing lost",
                verdict(lost == 0),
                anchor("Load and latency"),
            )
        )
    if soak:
        loss, counted = soak["loss"], soak["loss"]["servers_counted_since_stop"]
        uncounted = loss["outside_outage_client_misses"] - counted.get("error:broadcast_missed", 0)
        refused = soak["broadcasts"]["refused"]
        rows.append(
            (
                "Is every loss counted when Redis restarts empty (soak, 10 minutes)?",
                f"{refused} refused broadcasts, {counted.get('error:broadcast_failed', 0)} "
                f"counted; {loss['outside_outage_client_misses']:,} client misses after Redis "
                f"was back, {max(uncounted, 0):,} of them not counted",
                "nothing lost / every loss counted",
                verdict(uncounted <= 0),
                anchor(SOAK_INTRO.splitlines()[0]),
            )
        )
        servers = soak["servers"]
        rows.append(
            (
                "Do memory and descriptors stay flat over 10 minutes (soak)?",
                "; ".join(
                    f"{name}: RSS {s['rss_growth_kb'] / 1024:+.1f} MB, "
                    f"fds {s['start_fds']} → {s['end_fds']}"
                    for name, s in servers.items()
                ),
                "-",
                "-",
                anchor(SOAK_INTRO.splitlines()[0]),
            )
        )
    return rows


def layer_rows(layers: dict[str, Any] | None) -> list[Row]:
    if not layers:
        return []
    parts = [
        f"{inner}: {s['command_ratio']}x fewer, {s['throughput_ratio']}x the throughput, "
        f"p99 +{s['added_latency_p99_ms']} ms"
        for inner, s in layers["summary"].items()
    ]
    return [
        (
            "How many fewer Redis commands does the batching layer send?",
            "; ".join(parts),
            "-",
            "-",
            anchor("Batching channel layer"),
        )
    ]


def deflate_rows(deflate: dict[str, Any] | None) -> list[Row]:
    if not deflate:
        return []
    from reznet_ws.conf import DEFAULTS

    bits, level = DEFAULTS["DEFLATE_SERVER_MAX_WINDOW_BITS"], DEFAULTS["DEFLATE_MEM_LEVEL"]
    wire = deflate["wire"]["trace v2"]
    rows = deflate["memory"]["rows"]
    off = next((r for r in rows if not r["deflate"]), None)
    on = next(
        (r for r in rows if r["deflate"] and (r["window_bits"], r["mem_level"]) == (bits, level)),
        None,
    )
    memory = (
        f"; {on['kb_per_connection']} KB of RSS per idle connection (off: "
        f"{off['kb_per_connection']} KB)"
        if on and off
        else ""
    )
    return [
        (
            "What does permessage-deflate save, and what memory does it cost?",
            f"v2 frames at {wire['deflate']['pct_of_plain_json']} % of plain JSON "
            f"(without deflate {wire['plain']['pct_of_plain_json']} %){memory}; "
            f"defaults: window bits {bits}, mem level {level}",
            "-",
            "-",
            anchor("permessage-deflate"),
        )
    ]


def migration_rows(migration: dict[str, Any] | None) -> list[Row]:
    if not migration:
        return []
    plain, hub = migration["steps"][0], migration["steps"][-1]
    return [
        (
            f"What does migrating gain, broadcasting to {migration['members']} members?",
            f"{hub['bytes_per_message'] / plain['bytes_per_message']:.0%} of the bytes, "
            f"{hub['cpu_ms_per_broadcast'] / plain['cpu_ms_per_broadcast']:.0%} of the CPU "
            f"({hub['cpu_ms_per_broadcast']:.2f} ms against {plain['cpu_ms_per_broadcast']:.2f} "
            "ms per broadcast)",
            "-",
            "-",
            anchor("Migrating from plain Channels"),
        )
    ]


def msgpack_rows(result: dict[str, Any] | None) -> list[Row]:
    """The MessagePack encoding's targets (benchmarks/bench_msgpack.py)."""
    if not result:
        return []
    rows: list[Row] = []
    for stream in result["streams"]:
        b, e = stream["bytes"], stream["encode_us"]
        rows.append(
            (
                f"MessagePack against JSON v2, {stream['stream']}: bytes, encode CPU?",
                f"{b['ratio']:.2f}x the bytes ({b['ratio_deflate']:.2f}x with permessage-deflate, "
                f"estimated); encode {e['ratio_to_json_dumps']:.2f}x plain `json.dumps`",
                "bytes <= 0.85x, encode <= 1.0x",
                verdict(b["ratio"] <= 0.85 and e["ratio_to_json_dumps"] <= 1.0),
                anchor("MessagePack encoding"),
            )
        )
    return rows


def delta_rows(delta: dict[str, Any] | None) -> list[Row]:
    if not delta:
        return []
    from benchmarks.bench_delta import totals

    total, cpu = totals(delta), delta["cpu"]
    plan = delta["streams"][0]
    return [
        (
            "What do keyed events (deltas) save on live objects?",
            f"{total['ratio']:.3f}x of the bytes of full objects over three streams (plan "
            f"{plan['ratio']:.3f}x); with permessage-deflate {total['deflate_gain']:.1f}x smaller "
            "than deflate alone (per stream: "
            + ", ".join(f"{s['ratio']:.2f}x / {s['deflate_gain']:.1f}x" for s in delta["streams"])
            + ")",
            "≤ 0.2x; ≥ 2x",
            verdict(total["ratio"] <= 0.2 and total["deflate_gain"] >= 2),
            anchor("Keyed events and deltas"),
        ),
        (
            f"What does a keyed broadcast cost the server at {cpu['members']:,} members?",
            f"{cpu['ratio']}x the CPU of an unkeyed one ({cpu['keyed_ms']} ms against "
            f"{cpu['unkeyed_ms']} ms)",
            "≤ 1.5x",
            verdict(cpu["ratio"] <= 1.5),
            anchor("Keyed events and deltas"),
        ),
        *entity_rows(delta.get("entities")),
    ]


def entity_rows(entities: dict[str, Any] | None) -> list[Row]:
    """Entity references on the example's chat stream (benchmarks/bench_delta.py)."""
    if not entities:
        return []
    return [
        (
            "What do entity references save on a chat stream with author profiles?",
            f"{entities['ratio']:.2f}x of the bytes of event frames; with permessage-deflate "
            f"{entities['deflate_ratio']:.2f}x"
            + (
                f"; server CPU {entities['cpu']['ratio']}x per broadcast to "
                f"{entities['cpu']['members']:,} members"
                if entities.get("cpu")
                else ""
            ),
            "no target (measured)",
            "-",
            anchor("Entity references"),
        )
    ]


def zstd_stream_rows(stream: dict[str, Any] | None) -> list[Row]:
    """zstd group streams' targets (benchmarks/bench_stream.py)."""
    if not stream or "zstd stream" not in stream["cpu"]["modes"]:
        return []
    big, small = stream["bytes"]["webhooks"]["zstd_vs_bound"], stream["bytes"]["market data"]
    small = small["zstd_vs_bound"]
    cpu = stream["cpu"]["modes"]["zstd stream"]
    best_big = min(big["zstd-6 stream, per event"], big["zstd-9 stream, per event"])
    return [
        (
            "zstd stream against the zstd -19 bound, large payloads (webhooks)?",
            f"per event {big['zstd-6 stream, per event']}x (level 6), "
            f"{big['zstd-9 stream, per event']}x (level 9); batches of 10 "
            f"{big['zstd-6 stream, batches of 10']}x / {big['zstd-9 stream, batches of 10']}x",
            "≤ 1.3x",
            verdict(best_big <= 1.3),
            anchor("Group streams"),
        ),
        (
            "zstd stream against the bound, small messages (market data) batched by 10?",
            f"{small['zstd-6 stream, batches of 10']}x (level 6), "
            f"{small['zstd-9 stream, batches of 10']}x (level 9); per event "
            f"{small['zstd-6 stream, per event']}x",
            "≤ 1.3x",
            verdict(small["zstd-6 stream, batches of 10"] <= 1.3),
            anchor("Group streams"),
        ),
        (
            f"zstd stream CPU per broadcast at {stream['cpu']['members']:,} members?",
            f"{cpu['x_prepared']}x the uncompressed prepared frame ({cpu['ms_per_broadcast']} ms)",
            "≤ 1.3x",
            verdict(cpu["x_prepared"] <= 1.3),
            anchor("Group streams"),
        ),
    ]


def summary(loads: dict[str, Any]) -> str:
    rows = [
        *payload_rows(load_json("payload"), loads),
        *latency_rows(loads),
        *cpu_rows(loads),
        *scale_rows(loads),
        *loss_rows(loads, load_json("soak")),
        *layer_rows(load_json("layers")),
        *deflate_rows(load_json("deflate")),
        *migration_rows(load_json("migration")),
        *msgpack_rows(load_json("msgpack")),
        *delta_rows(load_json("delta")),
        *zstd_stream_rows(load_json("stream")),
    ]
    lines = [
        "## Summary",
        "",
        "| question | current figure | target | met? | detail |",
        "|---|---|---|---|---|",
    ]
    for question, figure, target, met, link in rows:
        lines.append(f"| {question} | {figure} | {target} | {met} | [details]({link}) |")
    lines += [
        "",
        "Targets are the product's: p95 under 100 ms at 1,000 connections, payloads more than "
        "40 % smaller than plain Channels JSON, 100 users and more, the encode path no dearer "
        "than `send_json()`, nothing lost and every loss counted.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- sections


def plots(loads: dict[str, Any]) -> str:
    lines = ["## Plots", ""]
    for question, name in PLOTS:
        doc = loads.get(name)
        if doc and doc.get("plot"):
            rel = os.path.relpath(ROOT / doc["plot"], DOCS)
            lines += [
                f"**{question}** ([{name}]({anchor(name)})): delivery latency by percentile, "
                "and payload bytes per event type.",
                "",
                f"![{question}]({rel})",
                "",
            ]
    return "\n".join(lines) if len(lines) > 2 else ""


def load_section(loads: dict[str, Any]) -> str:
    from benchmarks.wsbench.report import COLUMNS, markdown_section, summary_section

    if not loads:
        return ""
    parts = [LOAD_INTRO, summary_section(list(loads.values()), list(loads))]
    notes = read_md("load-notes")
    if notes:
        parts.append("### What these runs show\n\n" + notes.strip() + "\n")
    for name, doc in loads.items():
        plot = doc.get("plot")
        rel = os.path.relpath(ROOT / plot, DOCS) if plot else None
        parts.append(markdown_section(doc, rel, name))
    parts.append(COLUMNS)
    return "\n".join(parts)


def layers_section() -> str:
    from benchmarks.bench_layers import markdown

    result = load_json("layers")
    return LAYERS_INTRO + "\n" + markdown(result) + "\n" if result else ""


def with_intro(intro: str, name: str) -> str:
    body = read_md(name)
    return intro + "\n" + body if body else ""


def main() -> None:
    loads = load_docs()
    parts = [
        INTRO,
        summary(loads),
        plots(loads),
        read_md("payload"),
        load_section(loads),
        with_intro(SOAK_INTRO, "soak"),
        layers_section(),
        read_md("deflate"),
        read_md("deflate-modes"),
        read_md("stream"),
        with_intro(MIGRATION_INTRO, "migration"),
        read_md("msgpack"),
        read_md("delta"),
    ]
    text = "\n".join(part for part in parts if part)
    (DOCS / "benchmarks.md").write_text(text)
    print(f"wrote docs/benchmarks.md ({len(text):,} characters)")


if __name__ == "__main__":
    main()
