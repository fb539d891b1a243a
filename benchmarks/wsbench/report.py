"""The outputs of a run: JSON, a markdown table and section, the page of several results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.wsbench.options import IMAGES, REPO, TARGETS
from benchmarks.wsbench.svg import bytes_by_target, svg_plot


def one_line(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    return (
        f"{run['target']:8} N={run['clients']:<5} {run['layer']:12} "
        f"p50={_fmt_ms(lat['p50'])} p95={_fmt_ms(lat['p95'])} p99={_fmt_ms(lat['p99'])} "
        f"lost={run['lost']} failed={run['connect_failures']} "
        f"cpu/broadcast={run['server_cpu_per_broadcast_ms']}ms "
        f"floor={run.get('floor_ms_per_broadcast')}ms ({run.get('cpu_to_floor')}x) "
        f"rss/conn={run['rss_per_connection_kb']}KB"
        + ("  [saturated]" if run["saturated"] else "")
        + ("" if run["loadgen_ok"] else "  [load generator lagging]")
        + (f"  [machine busy: {run['machine_cpu_pct']:.0f} %]" if run["machine_busy"] else "")
    )


# ------------------------------------------------------------------------------ outputs


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "undelivered"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _fmt_floor(run: dict[str, Any]) -> str:
    """The floor of one run and CPU per broadcast as a multiple of it ("-" for older results)."""
    floor, ratio = run.get("floor_ms_per_broadcast"), run.get("cpu_to_floor")
    if not floor:
        return "- | -"
    return f"{floor:.1f} ms | {ratio:.1f}x"


def _fmt_kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f} kB"


def markdown_table(doc: dict[str, Any]) -> str:
    """Return the markdown tables of one result document: latency, then resources."""
    latency = [
        "| server | layer | servers | N | conn. failed | lost | p50 | p95 | p99 | max "
        "| p99 from schedule |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    resources = [
        "| server | N | bytes/msg | kB/client | server CPU/broadcast | floor | CPU / floor "
        "| server CPU | RSS/conn | load gen CPU, lag p99 | machine CPU | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        lat, sched = r["latency_ms"], r["latency_from_schedule_ms"]
        name = f"{r['target']}{' (saturated)' if r['saturated'] else ''}"
        latency.append(
            f"| {name} | {r['layer']} | {r['servers']} | {r['clients']} "
            f"| {r['connect_failures']} | {r['lost']} of {r['expected_deliveries']} "
            f"| {_fmt_ms(lat['p50'])} | {_fmt_ms(lat['p95'])} | {_fmt_ms(lat['p99'])} "
            f"| {_fmt_ms(lat['max'])} | {_fmt_ms(sched['p99'])} |"
        )
        gens = ", ".join(
            f"{g['cpu_pct']:.0f} % / {g['loop_lag_p99_ms'] or 0:.1f} ms" for g in r["loadgen"]
        )
        resources.append(
            f"| {r['target']} | {r['clients']} | {r['payload_bytes_per_message'] or 0:.0f} "
            f"| {_fmt_kb(r['payload_bytes_per_client']['mean'])} "
            f"| {r['server_cpu_per_broadcast_ms']:.1f} ms | {_fmt_floor(r)} "
            f"| {r['server_cpu_pct']:.0f} % "
            f"| {r['rss_per_connection_kb']:.0f} kB | {gens} "
            f"| {r['machine_cpu_pct'] or 0:.0f} % | {r['load_average'][0]:.2f} |"
        )
    return "\n".join(latency) + "\n\n" + "\n".join(resources) + "\n"


def markdown_section(doc: dict[str, Any], plot: str | None, title: str) -> str:
    """Return a markdown section: the command, the table, the plot, what the columns mean."""
    opts = doc["options"]
    lines = [
        f"### {title}",
        "",
        f"{doc['created']}, {doc['machine']['cores']} cores, Python {doc['machine']['python']}; "
        f"{opts['rate']:g} broadcasts/s for {opts['duration']:g} s, drain {opts['drain']:g} s"
        f"{', permessage-deflate' if opts['deflate'] else ''}"
        f"{', ours on reznet-daphne' if opts.get('reznet_server') else ''}"
        f"; load-generator client: {opts.get('client', 'websockets')}.",
        "",
        "```",
        doc["command"] or "(command not recorded)",
        "```",
        "",
        *([doc["note"], ""] if doc.get("note") else []),
        markdown_table(doc),
    ]
    bytes_rows = _bytes_rows(doc)
    if bytes_rows:
        lines += ["", bytes_rows]
    if plot:
        lines += ["", f"![latency distribution and bytes per message]({plot})"]
    return "\n".join(lines) + "\n"


def _bytes_rows(doc: dict[str, Any]) -> str:
    by_target = bytes_by_target(doc)
    if len(by_target) < 2:
        return ""
    base = by_target.get("baseline", {})
    ours = next((by_target[t] for t in TARGETS[1:] if t in by_target), {})
    rows = ["| event | baseline bytes | ours bytes | saved |", "|---|---|---|---|"]
    for event in sorted(set(ours) & set(base)):
        saved = 100 * (1 - ours[event] / base[event]) if base[event] else 0
        name = "all events" if event == "(all)" else event
        rows.append(f"| {name} | {base[event]:.0f} | {ours[event]:.0f} | {saved:.0f} % |")
    return "\n".join(rows)


def write_outputs(doc: dict[str, Any], out: Path, plot_dir: Path | None = None) -> dict[str, Path]:
    """Write ``out`` (JSON), ``out`` with ``.md`` and the plot ``bench-<stem>.svg``.

    The plot goes to docs/img/ for results inside this repository, next to ``out`` otherwise.
    """
    out = out.resolve()
    if plot_dir is None:
        plot_dir = IMAGES if out.is_relative_to(REPO) else out.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_dir / f"bench-{out.stem}.svg"
    doc["plot"] = str(plot.relative_to(REPO)) if plot.is_relative_to(REPO) else str(plot)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    plot.write_text(svg_plot(doc))
    md = out.with_suffix(".md")
    section = markdown_section(doc, os.path.relpath(plot, md.parent), out.stem)
    md.write_text(section + "\n" + COLUMNS)
    return {"json": out, "markdown": md, "plot": plot}


COLUMNS = """\
Columns: *lost* counts (client, broadcast) deliveries that had not arrived when the drain time ran
out; latencies are `time.time()` when the frame's bytes reached the client minus `time.time()`
just before the server's broadcast call, over every (client, broadcast) pair, undelivered pairs
counted as infinitely late (shown as "undelivered"); *p99 from schedule* adds the ticker's own
lateness, so a saturated server cannot hide behind its late sends; *bytes/msg* is the WebSocket
payload per delivered event without the benchmark's two stamp fields (`bench_seq`, `bench_t`:
about 45 bytes, the same for both servers); *kB/client* the same payload summed per client;
*server CPU/broadcast* is the server processes' user + system time (/proc) from the first
broadcast to the end of the drain, divided by the broadcasts (a lower bound when saturated);
*floor* is measured in the same run, on the same server processes and the same sockets, just
before the broadcasts: the process CPU time of writing one prebuilt frame of the run's mean frame
size to every connected socket with `socket.send` (median of 20 rounds, summed over the servers;
benchmarks/floor.py), the cost of a broadcast with everything but the write removed;
*CPU / floor* is server CPU per broadcast as a multiple of it;
*server CPU* the same as a share of one core (above 100 % when Channels' thread pool runs beside
the event loop); *RSS/conn* is the RSS growth of the idle server from before to after connecting
the N clients, divided by N; *load gen CPU, lag p99* is each load-generator process's share of one
core and the p99 lateness of a 10 ms timer in its event loop over the same phase (the load
generator keeps up while both stay low); *machine CPU* is the busy share of all cores
(/proc/stat, steal included) over that phase, everything on the machine counted: near 100 % the
figures measure the machine, not the code; *load avg* is the 1-minute load average when the run
started.
"""


def write_report(paths: list[Path], md: Path, title: str, notes: str | None = None) -> Path:
    """Write one markdown section: a summary, then a subsection per result file.

    The page is included in docs/benchmarks.md (``benchmarks/report.py``), so its headings start
    at ``##`` and its image links are relative to docs/.
    """
    docs = [json.loads(path.read_text()) for path in paths]
    sections = [f"## {title}\n"]
    if notes:
        sections.append(notes.strip() + "\n")
    sections.append(summary_section(docs, [path.stem for path in paths]))
    for path, doc in zip(paths, docs, strict=True):
        plot = doc.get("plot")
        rel = os.path.relpath(REPO / plot, REPO / "docs") if plot else None
        sections.append(markdown_section(doc, rel, path.stem))
    sections.append(COLUMNS)
    md.write_text("\n".join(sections))
    return md


def summary_section(docs: list[dict[str, Any]], names: list[str] | None = None) -> str:
    """Return a table of every server kind at every N under the first file's conditions."""
    lines = []
    first = docs[0]["runs"][0] if docs and docs[0]["runs"] else None
    if first is not None:
        key = (first["layer"], first["servers"], first["rate"], first["duration"])
        picked: dict[tuple[int, str], dict[str, Any]] = {}
        for doc in docs:
            for r in doc["runs"]:
                if (r["layer"], r["servers"], r["rate"], r["duration"]) == key:
                    picked.setdefault((r["clients"], r["target"]), r)
        if len({target for _, target in picked}) > 1:
            lines += [
                f"### Summary ({first['layer']} layer, {first['servers']} server "
                f"process{'es' if first['servers'] > 1 else ''}, {first['rate']:g} broadcasts/s "
                f"for {first['duration']:g} s)",
                "",
                "| N | server | p50 / p95 / p99 | lost | CPU per broadcast | RSS per connection "
                "| kB per client |",
                "|---|---|---|---|---|---|---|",
            ]
            order = {target: i for i, target in enumerate(TARGETS)}
            for (n, target), r in sorted(picked.items(), key=lambda i: (i[0][0], order[i[0][1]])):
                lines.append(
                    f"| {n:,} | {target} | {_triple(r)} | {_lost_pct(r)} | {_cpu(r)} ms "
                    f"| {r['rss_per_connection_kb']:.0f} kB "
                    f"| {_fmt_kb(r['payload_bytes_per_client']['mean'])} |"
                )
            lines += [
                "",
                "*ours*: `join_group()`, the process hub; *ours-group-add*: the same consumer "
                "joined with `channel_layer.group_add`, every recipient dispatched by Channels; "
                "*saturated*: the server fell behind, CPU per broadcast is then a lower bound (≥).",
                "",
            ]
    lines.append(loadgen_check(docs, names))
    return "\n".join(lines) + "\n"


def _triple(run: dict[str, Any]) -> str:
    lat = run["latency_ms"]
    text = " / ".join(_fmt_ms(lat[k]) for k in ("p50", "p95", "p99"))
    return text + (" (*saturated*)" if run["saturated"] else "")


def _lost_pct(run: dict[str, Any]) -> str:
    if not run["lost"]:
        return "0"
    return f"{100 * run['lost'] / run['expected_deliveries']:.0f} %"


def _cpu(run: dict[str, Any]) -> str:
    return ("≥ " if run["saturated"] else "") + f"{run['server_cpu_per_broadcast_ms']:.0f}"


def loadgen_check(docs: list[dict[str, Any]], names: list[str] | None = None) -> str:
    """Return one paragraph: what the load generators cost and whether any run was flagged."""
    names = names or [f"#{i + 1}" for i in range(len(docs))]
    runs = [{**r, "file": name} for d, name in zip(docs, names, strict=True) for r in d["runs"]]
    gens = [g for r in runs for g in r["loadgen"]]
    if not gens:
        return ""
    costs = [g["us_per_message"] for g in gens if g.get("us_per_message")]
    flagged = [r for r in runs if not r["loadgen_ok"] or r["machine_busy"]]
    text = (
        f"**Load generator check** over these {len(runs)} runs: each load-generator process used "
        f"at most {max(g['cpu_pct'] for g in gens):.0f} % of a core"
        + (f" ({min(costs):.0f}-{max(costs):.0f} µs of CPU per message)" if costs else "")
        + f", with an event-loop lag p99 of at most "
        f"{max(g['loop_lag_p99_ms'] or 0 for g in gens):.1f} ms; the machine was at most "
        f"{max(r['machine_cpu_pct'] or 0 for r in runs):.0f} % busy."
    )
    if flagged:
        listed = ", ".join(f"{r['file']} {r['target']} N={r['clients']}" for r in flagged)
        text += (
            f" Flagged (load generator lagging or machine busy, see the tables): {listed}; "
            "their figures are upper bounds."
        )
    return text + "\n"
