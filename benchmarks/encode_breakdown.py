"""Where the time of one ``send_event()`` goes, part by part, against plain ``send_json()``.

Used by ``benchmarks/bench_payload.py``: each part is timed alone on the same parts of the stream
as the whole path (each part's fastest of several passes, per message), with the codec a consumer
of that stream uses:

* ``json.dumps``: what plain Channels spends writing the v1 envelope;
* walk: key abbreviation, timestamps and the v1-size tally (``reznet_ws.codec.walk``), with
  orjson; with the standard library the walk writes its own text, so there is no walk alone;
* write: orjson on the walked value, or the standard library's text walk from the data
  (``reznet_ws.codec.walk_text``);
* encode: the whole ``Codec.encode_event_measured`` (walk, write, checks, the frame, the exact
  v1 size and the frame's UTF-8 size), what ``send_event`` calls;
* stats: ``StatsRecorder.record_sent`` (what ``send_event`` calls) on a recorder that never
  flushes (it folds its log every 1,024 messages, as a running one does).

The rest of ``send_event`` (the event object, framing, the connection and its outbox) is its
measured total minus encode and stats; plain Channels' rest is its total minus ``json.dumps``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.test import override_settings

from reznet_ws.codec import FieldMap
from reznet_ws.encoding import codec_for
from reznet_ws.stats import StatsRecorder

__all__ = ["backend_rows", "breakdown", "render_breakdown", "render_floor"]

Items = list[tuple[str, Any]]


def _best(fn: Callable[[str, Any], object], parts: list[Items], repeat: int = 7) -> float:
    """Mean seconds per message of ``fn`` over ``parts``, each part at its fastest pass."""
    total = 0.0
    for part in parts:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for event, data in part:
                fn(event, data)
            best = min(best, time.perf_counter() - start)
        total += best / len(part)
    return total / len(parts)


def _parts(parts: list[Items], field_map: FieldMap) -> dict[str, float]:
    codec = codec_for(field_map)
    # Private parts of the codec, measured on purpose.
    walk, text_walk, fast = codec._encode_value, codec._encode_text, codec._fast
    walked = [[(event, walk(data, [0, 0, 0, 0])) for event, data in part] for part in parts]
    recorder = StatsRecorder(autostart=False)
    return {
        "json_dumps": _best(lambda e, d: json.dumps({"event": e, "data": d}), parts),
        "walk": _best(lambda e, d: walk(d, [0, 0, 0, 0]), parts) if fast else None,
        "write": _best(lambda e, v: fast(v), walked)
        if fast
        else _best(lambda e, d: text_walk(d, [0, 0, 0, 0]), parts),
        "encode": _best(lambda e, d: codec.encode_event_measured(e, d), parts),
        "stats": _best(lambda e, d: recorder.record_sent(e, 300, 200), parts),
    }


def breakdown(
    streams: dict[str, tuple[list[Items], FieldMap]], full_path: dict[str, Any]
) -> dict[str, Any]:
    """Return ``{backend: {stream: {part: µs}}}`` for the backends ``full_path`` measured."""
    results: dict[str, Any] = {}

    def us(seconds: float | None) -> float | None:
        return None if seconds is None else round(1e6 * seconds, 2)

    for backend, measured in full_path.items():
        with override_settings(REZNET_WS={"JSON_BACKEND": backend}):
            results[backend] = {}
            for stream, (stream_parts, field_map) in streams.items():
                timed = _parts(stream_parts, field_map)
                parts: dict[str, Any] = {k: us(v) for k, v in timed.items()}
                row = measured[stream]
                parts["send_json"] = row["send_json_us"]
                parts["send_event"] = row["send_event_us"]
                parts["plain_rest"] = round(row["send_json_us"] - parts["json_dumps"], 2)
                parts["rest"] = round(row["send_event_us"] - parts["encode"] - parts["stats"], 2)
                results[backend][stream] = parts
    return results


def render_breakdown(r: dict[str, Any]) -> list[str]:
    """The markdown table of :func:`breakdown`'s result (``r["breakdown"]``)."""
    lines = [
        "Where the time goes, per message (each step timed alone on the same parts; "
        "benchmarks/encode_breakdown.py):",
        "",
        "| JSON backend | stream | plain: `json.dumps` + rest = total "
        "| ours: walk | write | encode (walk + write + frame + sizes) | stats | rest | total |",
        # With the standard library the walk writes its own text: no walk alone ("-").
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return lines + backend_rows(
        r["breakdown"],
        lambda p: (
            f"{p['json_dumps']} + {p['plain_rest']} = {p['send_json']} µs "
            f"| {_us(p['walk'])} | {p['write']} µs | {p['encode']} µs | {p['stats']} µs "
            f"| {p['rest']} µs | {p['send_event']} µs"
        ),
    )


def backend_rows(
    results: dict[str, dict[str, dict[str, Any]]], cells: Callable[[dict[str, Any]], str]
) -> list[str]:
    """Markdown table rows ``| backend | stream | cells(row) |`` of ``{backend: {stream: row}}``."""
    return [
        f"| {backend} | {stream} | {cells(row)} |"
        for backend, streams in results.items()
        for stream, row in streams.items()
    ]


def render_floor(r: dict[str, Any]) -> list[str]:
    """Why a stream misses 1.0x: what its parts cost before any framing or delivery."""
    lines = []
    for backend, streams in r["breakdown"].items():
        for stream, p in streams.items():
            floor = round(p["encode"] + p["stats"], 2)
            if floor + p["plain_rest"] > p["send_json"]:
                lines.append(
                    f"- {backend}, {stream}: encoding ({p['encode']} µs, of which the DATA "
                    f"text {_data_text(p)} µs) and stats ({p['stats']} µs) take {floor} µs; "
                    f"with the {p['plain_rest']} µs plain Channels spends outside `json.dumps` "
                    f"{round(floor + p['plain_rest'], 2)} µs, more than its whole "
                    f"{p['send_json']} µs."
                )
    if lines:
        lines[:0] = [
            "Out of reach where encoding and stats alone, plus the awaits and the ASGI message "
            "that both paths need (priced at what plain Channels spends on them), exceed plain "
            "Channels' total:",
            "",
        ]
    return lines


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value} µs"


def _data_text(p: dict[str, Any]) -> float:
    # walk + write with orjson; the text walk alone with the standard library.
    return round((p["walk"] or 0) + p["write"], 2)
