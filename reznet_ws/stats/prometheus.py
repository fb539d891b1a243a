"""The stats in Prometheus text format via ``prometheus_client`` (the ``prometheus`` extra).

The counters are fleet-wide (read from the stats cache), so every process serves the same values:
scrape one endpoint, not every process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = ["INSTALL_HINT", "prometheus_available", "render_metrics"]

INSTALL_HINT = "pip install 'reznet-ws[prometheus]'"


def prometheus_available() -> bool:
    """Return True when ``prometheus_client`` can be imported."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def _import() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"The Prometheus endpoint needs prometheus_client: {INSTALL_HINT}"
        ) from exc
    return prometheus_client


_TOTALS = (
    ("messages", "total_messages", "Events delivered."),
    ("bytes_original", "total_bytes_original", "Bytes plain JSON (protocol v1) would have sent."),
    ("bytes_optimized", "total_bytes_optimized", "Bytes sent."),
    ("compressed_messages", "compressed_messages", "Events sent in gzip frames."),
)


def _counter(name: str, doc: str, value: int) -> Any:
    from prometheus_client.core import CounterMetricFamily

    return CounterMetricFamily(f"reznet_ws_{name}", doc, value=value)


def _labelled(name: str, doc: str, label: str, values: Mapping[str, int], kind: str = "c") -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    family_class = CounterMetricFamily if kind == "c" else GaugeMetricFamily
    family = family_class(f"reznet_ws_{name}", doc, labels=[label])
    for key, n in values.items():
        family.add_metric([key], n)
    return family


def _families(stats: Mapping[str, Any]) -> Iterator[Any]:
    for name, key, doc in _TOTALS:
        yield _counter(name, doc, stats[key])
    batches, wire, events = stats["batches"], stats["wire"], stats["events"]
    yield _counter("batches", "Batch frames sent.", batches["count"])
    yield _counter("batched_messages", "Events sent inside batch frames.", batches["messages"])
    for field, doc in (
        ("messages", "Events delivered"),
        ("bytes_original", "Plain JSON bytes"),
        ("bytes_optimized", "Bytes sent"),
    ):
        per_event = {name: e[field] for name, e in events.items()}
        yield _labelled(f"event_{field}", f"{doc}, per event.", "event", per_event)
    yield _labelled("errors", "Rejected client messages, per code.", "code", stats["errors"])
    yield _labelled(
        "fallbacks", "Payloads sent unoptimized, per reason.", "reason", stats["fallbacks"]
    )
    connections = stats["connections"]
    yield _labelled(
        "connections_opened",
        "Connections accepted, per protocol.",
        "version",
        connections["opened_by_version"],
    )
    yield _labelled(
        "active_connections",
        "Open connections, per protocol.",
        "version",
        connections["by_version"],
        kind="g",
    )
    yield _counter("wire_bytes_sent", "Bytes written to sockets.", wire["bytes_sent"])
    yield _counter("wire_bytes_received", "Bytes read from sockets.", wire["bytes_received"])
    by_transport = wire.get("by_transport") or {}
    for field, doc in (("bytes_sent", "written to"), ("bytes_received", "read from")):
        per_transport = {name: t[field] for name, t in by_transport.items()}
        yield _labelled(
            f"wire_transport_{field}",
            f"Bytes {doc} sockets, per transport (deflate, plain).",
            "transport",
            per_transport,
        )
    streams = stats.get("streams")
    if streams is not None:  # group streams (docs/stream-compression.md)
        yield _counter("stream_frames", "Group-stream frames sent.", streams["frames"])
        yield _counter("stream_bytes", "Group-stream bytes sent.", streams["bytes_sent"])
        yield _counter("stream_resyncs", "Group-stream resync requests.", streams["resyncs"])
        codecs = streams.get("by_codec") or {}
        per_codec = {name: c["bytes_sent"] for name, c in codecs.items()}
        yield _labelled(
            "stream_codec_bytes", "Group-stream bytes sent, per codec.", "codec", per_codec
        )
    deltas = stats.get("deltas")
    if deltas is not None:  # keyed events (docs/deltas.md)
        yield _counter("delta_frames", "Keyed events sent as deltas.", deltas["delta_frames"])
        yield _counter("delta_full_frames", "Keyed events sent whole.", deltas["full_frames"])
        yield _counter("delta_bytes_saved", "Bytes saved by deltas.", deltas["bytes_saved"])
        yield _counter("delta_resyncs", "Keys clients asked to get whole.", deltas["resyncs"])
        yield _counter("entity_refs", "Entity references sent.", deltas["entity_refs"])
        saved = deltas["entity_bytes_saved"]
        yield _counter("entity_bytes_saved", "Bytes saved by entity references.", saved)


def _cache_up(up: bool) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(
        "reznet_ws_stats_cache_up", "1 when the stats cache answers.", value=1 if up else 0
    )


class _Collector:
    def __init__(self, stats: Mapping[str, Any] | None) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        yield _cache_up(self.stats is not None)
        if self.stats is not None:
            yield from _families(self.stats)


def render_metrics(stats: Mapping[str, Any] | None) -> tuple[bytes, str]:
    """Return ``(body, content_type)`` for ``stats`` (None: the cache is down).

    Raises ``ImproperlyConfigured`` naming the extra when ``prometheus_client`` is missing.
    """
    client = _import()
    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats))
    return client.generate_latest(registry), client.CONTENT_TYPE_LATEST
