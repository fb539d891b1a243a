"""The plot of a result file: latency percentiles and bytes per client, as plain SVG."""

from __future__ import annotations

import math
from typing import Any


def bytes_by_target(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean payload bytes per event type for each server kind (from its first run)."""
    out: dict[str, dict[str, float]] = {}
    for run in doc["runs"]:
        if run["target"] not in out and run["event_bytes"]:
            out[run["target"]] = dict(run["event_bytes"])
            if run["payload_bytes_per_message"]:
                out[run["target"]]["(all)"] = run["payload_bytes_per_message"]
    return out


_TARGET_COLORS = {"baseline": "#7f7f7f", "ours": "#1f77b4", "ours-group-add": "#ff7f0e"}
_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def svg_plot(doc: dict[str, Any]) -> str:
    """Return an SVG: latency by percentile per run, and bytes per message per event type."""
    width, height = 1000, 400 + 14 * math.ceil(len(doc["runs"]) / 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    parts += _svg_latency(doc, x0=70, y0=50, w=440, h=290)
    parts += _svg_bars(doc, x0=600, y0=50, w=380, h=290)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _nines(p: float) -> float:
    """Position of percentile ``p`` on a "nines" axis: 0 -> 0, 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return 3.3 if p >= 100 else min(3.0, -math.log10(1 - p / 100))


def _svg_latency(doc: dict[str, Any], x0: int, y0: int, w: int, h: int) -> list[str]:
    """Latency (log scale) against percentile (nines scale), one line per run."""
    values = [v for r in doc["runs"] for _, v in r["cdf_ms"] if v]
    lo = 10 ** math.floor(math.log10(max(0.1, min(values, default=1))))
    hi = max(10 ** math.ceil(math.log10(max(values, default=10) * 1.01)), lo * 10)
    span = math.log10(hi) - math.log10(lo)

    def x(p: float) -> float:
        return x0 + w * _nines(p) / 3.3

    def y(v: float) -> float:
        return y0 + h - h * (math.log10(max(v, lo)) - math.log10(lo)) / span

    out = [
        f'<text x="{x0}" y="{y0 - 30}" font-size="13">Delivery latency by percentile '
        f"(a line that stops: the rest was not delivered)</text>",
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
    ]
    for p, label in ((0, "0 %"), (50, "50 %"), (90, "90 %"), (99, "99 %"), (99.9, "99.9 %"),
                     (100, "max")):  # fmt: skip
        out.append(
            f'<line x1="{x(p):.1f}" y1="{y0}" x2="{x(p):.1f}" y2="{y0 + h}" stroke="#eee"/>'
            f'<text x="{x(p):.1f}" y="{y0 + h + 14}" text-anchor="middle">{label}</text>'
        )
    decade = lo
    while decade <= hi * 1.0001:
        out.append(
            f'<line x1="{x0}" y1="{y(decade):.1f}" x2="{x0 + w}" y2="{y(decade):.1f}" '
            f'stroke="#eee"/><text x="{x0 - 4}" y="{y(decade) + 4:.1f}" '
            f'text-anchor="end">{_fmt_axis(decade)}</text>'
        )
        decade *= 10
    for i, run in enumerate(doc["runs"]):
        color = _COLORS[i % len(_COLORS)]
        points = [f"{x(p):.1f},{y(v):.1f}" for p, v in run["cdf_ms"] if v]
        if points:
            out.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                f'points="{" ".join(points)}"/>'
            )
        label = f"{run['target']} N={run['clients']} {run['layer']}"
        if run["servers"] > 1:
            label += f" x{run['servers']}"
        lx = x0 + (i % 2) * (w // 2)
        ly = y0 + h + 34 + 14 * (i // 2)
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="2"/><text x="{lx + 20}" y="{ly}">{label}</text>'
        )
    return out


def _fmt_axis(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _svg_bars(doc: dict[str, Any], x0: int, y0: int, w: int, h: int) -> list[str]:
    """Bytes per message per event type; relative to the baseline when both ran."""
    by_target = bytes_by_target(doc)
    targets = sorted(by_target)
    events = sorted({e for sizes in by_target.values() for e in sizes})
    base = by_target.get("baseline") if len(targets) > 1 else None
    title = "relative to plain Channels; labels in bytes" if base else "bytes"
    out = [
        f'<text x="{x0}" y="{y0 - 30}" font-size="13">Payload per message ({title})</text>',
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
    ]
    if not events:
        return out
    top = 100.0 if base else max(v for sizes in by_target.values() for v in sizes.values())
    slot = w / len(events)
    bar = slot * 0.8 / len(targets)
    for j, target in enumerate(targets):
        color = _TARGET_COLORS.get(target, "#1f77b4")
        out.append(
            f'<rect x="{x0 + 90 * j}" y="{y0 - 22}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x0 + 14 + 90 * j}" y="{y0 - 13}">{target}</text>'
        )
        for i, event in enumerate(events):
            value = by_target[target].get(event)
            if not value:
                continue
            shown = 100.0 * value / base[event] if base and base.get(event) else value
            bh = h * 0.9 * min(shown, top) / top
            bx = x0 + slot * i + slot * 0.1 + bar * j
            out.append(
                f'<rect x="{bx:.1f}" y="{y0 + h - bh:.1f}" width="{bar:.1f}" '
                f'height="{bh:.1f}" fill="{color}"/><text x="{bx + bar / 2:.1f}" '
                f'y="{y0 + h - bh - 3:.1f}" text-anchor="middle" font-size="9">{value:.0f}</text>'
            )
    for i, event in enumerate(events):
        cx = x0 + slot * (i + 0.5)
        words = ["all", "events"] if event == "(all)" else event.split("_", 1)
        lines = "".join(
            f'<tspan x="{cx:.1f}" dy="{0 if k == 0 else 11}">{word}</tspan>'
            for k, word in enumerate(words)
        )
        out.append(f'<text y="{y0 + h + 14}" text-anchor="middle" font-size="9">{lines}</text>')
    return out
