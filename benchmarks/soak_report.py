"""The analysis and the markdown summary of the soak benchmark (``benchmarks/soak.py``).

:func:`analyse` turns what the run recorded into the result dict (phases, losses, recovery,
latency, server samples); :func:`markdown` renders it; :func:`write_results` writes the JSON and
the ``.md`` next to it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100.0 * (len(sorted_values) - 1))))
    return round(sorted_values[k], 1)


def counter_delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, int]:
    if not a or not b:
        return {}
    ca, cb = a["counters"], b["counters"]
    keys = sorted(set(ca) | set(cb))
    return {k: cb.get(k, 0) - ca.get(k, 0) for k in keys if k.startswith("error:")}


def analyse(
    args,
    results,
    clients,
    senders,
    sent_t,
    sent_to,
    t0,
    t_end,
    events,
    probes_at,
    samples,
    lags,
    connect_seconds,
    connect_failures,
) -> dict[str, Any]:
    total = results.total
    n_clients = len(clients)
    down = events.get("redis_down", events.get("stop_issued"))
    stop_issued = events.get("stop_issued")
    back = events.get("redis_back")

    def ack(n: int) -> tuple[bool, float] | None:
        return senders[sent_to[n]].acks.get(n) if sent_to[n] else None

    # A client that closed early can only miss what was sent after it closed: count it apart.
    closed_at = sorted(
        c.closed_at for c in clients if c.closed_at is not None and c.closed_at < t_end - 1
    )

    def expected(n: int) -> int:
        return n_clients - sum(1 for when in closed_at if when < sent_t[n])

    # Recovery: the first broadcast shouted after the stop that reached every client once Redis
    # was back (one shouted as Redis was stopping may still have gone through before it died).
    recovered_n = None
    if stop_issued is not None and back is not None and n_clients:
        for n in range(total):
            if (
                sent_t[n] >= stop_issued
                and results.count[n] >= n_clients
                and results.last_recv[n] >= back
            ):
                recovered_n = n
                break
    recovered_at = results.last_recv[recovered_n] if recovered_n is not None else None

    def phase(n: int) -> str:
        t = sent_t[n]
        if stop_issued is None or t < stop_issued:
            return "before"
        if back is None or t < back:
            return "outage"
        if recovered_n is None or n < recovered_n:
            return "recovering"
        return "after"

    phases: dict[str, dict[str, Any]] = {
        p: {
            "sent": 0,
            "accepted": 0,
            "refused": 0,
            "unacked": 0,
            "accepted_missed": 0,
            "client_misses": 0,
            "refused_but_delivered": 0,
            "first_t": None,
            "last_t": None,
        }
        for p in ("before", "outage", "recovering", "after")
    }
    missed_list: list[dict[str, Any]] = []
    for n in range(total):
        if sent_t[n] <= 0:
            continue
        ph = phases[phase(n)]
        ph["sent"] += 1
        rel = round(sent_t[n] - t0, 2)
        ph["first_t"] = rel if ph["first_t"] is None else ph["first_t"]
        ph["last_t"] = rel
        a = ack(n)
        if a is None:
            ph["unacked"] += 1
            continue
        if not a[0]:
            ph["refused"] += 1
            if results.count[n]:
                ph["refused_but_delivered"] += 1
            continue
        ph["accepted"] += 1
        miss = expected(n) - results.count[n]
        if miss > 0:
            ph["accepted_missed"] += 1
            ph["client_misses"] += miss
            if len(missed_list) < 200:
                missed_list.append(
                    {
                        "n": n,
                        "server": sent_to[n],
                        "t": rel,
                        "acked_after_t": round(a[1] - t0, 2),
                        "missed_by": miss,
                        "phase": phase(n),
                    }
                )

    # Latency: all deliveries, and those of broadcasts shouted before the stop or after recovery.
    steady: list[float] = []
    everything: list[float] = []
    for n, ms in zip(results.lat_n, results.lat_ms, strict=True):
        everything.append(ms)
        if phase(n) in ("before", "after"):
            steady.append(ms)
    steady.sort()
    everything.sort()
    lat = {
        "steady": {f"p{p}": percentile(steady, p) for p in (50, 95, 99)}
        | {"max": round(steady[-1], 1) if steady else None, "count": len(steady)},
        "all": {f"p{p}": percentile(everything, p) for p in (50, 95, 99)}
        | {"max": round(everything[-1], 1) if everything else None, "count": len(everything)},
    }
    lags.sort()

    def proc_summary(name: str) -> dict[str, Any]:
        rows = [s[name] for s in samples if isinstance(s.get(name), dict) and "rss_kb" in s[name]]
        run = [
            r
            for s, r in zip([s for s in samples if "rss_kb" in s.get(name, {})], rows, strict=True)
            if s["label"] != "idle"
        ]
        start, end = run[0], run[-1]
        return {
            "idle_rss_kb": rows[0]["rss_kb"],
            "idle_fds": rows[0]["fds"],
            "start_rss_kb": start["rss_kb"],
            "end_rss_kb": end["rss_kb"],
            "max_rss_kb": max(r["rss_kb"] for r in run),
            "rss_growth_kb": end["rss_kb"] - start["rss_kb"],
            "start_fds": start["fds"],
            "end_fds": end["fds"],
            "max_fds": max(r["fds"] for r in run),
            "cpu_s": round(end["cpu_s"] - start["cpu_s"], 1),
        }

    names = list(senders)
    server_deltas = {
        name: counter_delta(
            (probes_at.get("before_stop") or {}).get(name), (probes_at.get("end") or {}).get(name)
        )
        for name in names
    }
    counted = {
        k: sum(d.get(k, 0) for d in server_deltas.values())
        for k in (
            "error:broadcast_failed",
            "error:broadcast_missed",
            "error:slow_client_drop",
            "error:undeliverable_on_close",
            "error:slow_client_closed",
            "error:discarded_on_close",
            "error:layer_unavailable",
        )
    }
    run_seconds = t_end - t0
    end_sample = samples[-1]
    busy = [
        s["machine_busy_pct"]
        for s in samples
        if s["label"] == "run" and s["machine_busy_pct"] is not None
    ]

    out = {
        "command": " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        "config": {
            "duration_s": args.duration,
            "connections": args.connections,
            "rate": args.rate,
            "restart_at_s": args.restart_at,
            "outage_s": args.outage,
            "v2_every": args.v2_every,
        },
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "clients": {
            "connected": n_clients,
            "v2": sum(c.v2 for c in clients),
            "connect_failures": len(connect_failures),
            "connect_failure_examples": connect_failures[:5],
            "connect_seconds": round(connect_seconds, 1),
            "closed_before_end": len(closed_at),
            "close_codes": sorted(
                {
                    str(c.close_code)
                    for c in clients
                    if c.closed_at is not None and c.closed_at < t_end - 1
                }
            ),
        },
        "broadcasts": {
            "shouted": sum(p["sent"] for p in phases.values()),
            "accepted": sum(p["accepted"] for p in phases.values()),
            "refused": sum(p["refused"] for p in phases.values()),
            "unacked": sum(p["unacked"] for p in phases.values()),
        },
        "phases": phases,
        "loss": {
            "outside_outage_client_misses": phases["before"]["client_misses"]
            + phases["recovering"]["client_misses"]
            + phases["after"]["client_misses"],
            "before_stop_client_misses": phases["before"]["client_misses"],
            "outage_client_misses": phases["outage"]["client_misses"],
            "recovering_client_misses": phases["recovering"]["client_misses"],
            "after_recovery_client_misses": phases["after"]["client_misses"],
            "servers_counted_since_stop": counted,
            "servers_counted_since_stop_per_server": server_deltas,
            "duplicates": results.duplicates,
            "out_of_range": results.out_of_range,
            "missed_broadcasts": missed_list,
        },
        "redis": {
            "stop_issued_s": round(stop_issued - t0, 2) if stop_issued else None,
            "down_s": round(down - t0, 2) if down else None,
            "back_s": round(back - t0, 2) if back else None,
            "down_for_s": round(back - down, 2) if back and down else None,
        },
        "recovery": {
            "first_full_broadcast_n": recovered_n,
            "its_send_time_s": round(sent_t[recovered_n] - t0, 2)
            if recovered_n is not None
            else None,
            "time_to_recover_s": round(recovered_at - back, 2)
            if recovered_at is not None and back is not None
            else None,
        },
        "latency_ms": lat,
        "servers": {name: proc_summary(name) for name in names},
        "server_counters_end": {name: (probes_at.get("end") or {}).get(name) for name in names},
        "loadgen": {
            "cpu_s": end_sample["loadgen_cpu_s"],
            "cpu_pct_of_core": round(100 * end_sample["loadgen_cpu_s"] / run_seconds, 1),
            "loop_lag_ms": {
                "p50": percentile(lags, 50),
                "p99": percentile(lags, 99),
                "max": round(lags[-1], 1) if lags else None,
            },
        },
        "machine_busy_pct": {
            "mean": round(sum(busy) / len(busy), 1) if busy else None,
            "max": max(busy) if busy else None,
        },
        "run_seconds": round(run_seconds, 1),
        "samples": samples,
    }
    return out


def markdown(r: dict[str, Any]) -> str:
    def kb(v: int | None) -> str:
        return "-" if v is None else f"{v / 1024:.1f} MB"

    s = r["servers"]
    names = list(s)
    ph = r["phases"]
    loss = r["loss"]
    counted = loss["servers_counted_since_stop"]
    lines = [
        f"Command: `python {r['command']}`",
        "",
        f"{r['clients']['connected']} clients ({r['clients']['v2']} v2), "
        f"{r['config']['rate']:g} broadcasts/s for {r['config']['duration_s']:g} s; Redis "
        f"stopped at +{r['redis']['down_s']} s, back (empty) at +{r['redis']['back_s']} s; "
        f"machine busy {r['machine_busy_pct']['mean']} % on average "
        f"(max {r['machine_busy_pct']['max']} %).",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| RSS start / end / max | "
        + " | ".join(
            f"{kb(s[n]['start_rss_kb'])} / {kb(s[n]['end_rss_kb'])} / {kb(s[n]['max_rss_kb'])}"
            for n in names
        )
        + " |",
        "| RSS growth over the run | "
        + " | ".join(f"{s[n]['rss_growth_kb'] / 1024:+.1f} MB" for n in names)
        + " |",
        "| open fds start / end (max) | "
        + " | ".join(f"{s[n]['start_fds']} / {s[n]['end_fds']} ({s[n]['max_fds']})" for n in names)
        + " |",
        "| CPU over the run | " + " | ".join(f"{s[n]['cpu_s']} s" for n in names) + " |",
        "",
        "| figure | value |",
        "|---|---|",
        f"| broadcasts shouted / accepted / refused / no answer | {r['broadcasts']['shouted']} / "
        f"{r['broadcasts']['accepted']} / {r['broadcasts']['refused']} / "
        f"{r['broadcasts']['unacked']} |",
        f"| servers' `error:broadcast_failed` since the stop | "
        f"{counted.get('error:broadcast_failed', 0)} |",
        f"| servers' `error:broadcast_missed` since the stop (client misses the receiving "
        f"processes counted) | {counted.get('error:broadcast_missed', 'not recorded')} |",
        f"| loss outside the outage (client misses of accepted broadcasts: before the stop / "
        f"after Redis is back) | **{loss['outside_outage_client_misses']}** "
        f"({loss['before_stop_client_misses']} / "
        f"{loss['recovering_client_misses'] + loss['after_recovery_client_misses']}) |",
        f"| loss inside the outage (accepted broadcasts missed / client misses) | "
        f"{ph['outage']['accepted_missed']} / {ph['outage']['client_misses']} |",
        f"| counted by the servers since the stop (slow_client_drop / undeliverable_on_close / "
        f"layer_unavailable faults) | {counted.get('error:slow_client_drop', 0)} / "
        f"{counted.get('error:undeliverable_on_close', 0)} / "
        f"{counted.get('error:layer_unavailable', 0)} |",
        f"| Redis down for | {r['redis']['down_for_s']} s |",
        f"| time to recover (Redis back to first broadcast at every client) | {_recovery(r)} |",
        f"| accepted broadcasts that missed clients after Redis was back | {_lost_after(r)} |",
        "| delivery latency p50 / p95 / p99 / max (outside the outage) | "
        + " / ".join(f"{r['latency_ms']['steady'][k]} ms" for k in ("p50", "p95", "p99", "max"))
        + " |",
        f"| clients closed before the end / duplicates | {r['clients']['closed_before_end']} / "
        f"{loss['duplicates']} |",
        f"| load generator CPU / event-loop lag p99 | {r['loadgen']['cpu_pct_of_core']} % of a "
        f"core / {r['loadgen']['loop_lag_ms']['p99']} ms |",
    ]
    return "\n".join(lines)


def _recovery(r: dict[str, Any]) -> str:
    """The time to recover, or what bounds it when the result file holds no valid figure."""
    value = r["recovery"]["time_to_recover_s"]
    if value is not None and value >= 0:
        return f"{value} s"
    return "not measured (the file holds no broadcast completed after Redis was back)"


def _lost_after(r: dict[str, Any]) -> str:
    back = r["redis"]["back_s"]
    missed = [m for m in r["loss"]["missed_broadcasts"] if back is None or m["t"] >= back]
    if not missed:
        return "0"
    return (
        f"{len(missed)}, shouted +{missed[0]['t']} s to +{missed[-1]['t']} s "
        f"({sum(m['missed_by'] for m in missed):,} client misses)"
    )


def write_results(result: dict[str, Any], out: Path) -> None:
    """Write ``out`` (JSON) and the markdown summary next to it (``.md``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(f"\nresults: {out} and {out.with_suffix('.md').name}")
