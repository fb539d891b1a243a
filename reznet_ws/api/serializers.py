"""Response shapes of the stats endpoints (read-only; they also document the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers

__all__ = [
    "ComponentSerializer",
    "DetailSerializer",
    "HealthSerializer",
    "HealthStatusSerializer",
    "ResetSerializer",
    "StatsSerializer",
]


class EventStatsSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    bytes_original = serializers.IntegerField()
    bytes_optimized = serializers.IntegerField()
    reduction_percentage = serializers.FloatField()
    compressed_messages = serializers.IntegerField()


class ConnectionsSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="Open connections, summed over live processes.")
    by_version = serializers.DictField(
        child=serializers.IntegerField(), help_text='Open connections per protocol ("v1", "v2").'
    )
    opened_by_version = serializers.DictField(
        child=serializers.IntegerField(), help_text="Connections accepted since the last reset."
    )
    processes = serializers.IntegerField(help_text="Processes with open connections.")


class BatchesSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Batch frames sent.")
    messages = serializers.IntegerField(help_text="Events sent inside batch frames.")
    avg_messages_per_batch = serializers.FloatField()


class EncodingStatsSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    bytes_original = serializers.IntegerField(help_text="What plain JSON (v1) would have sent.")
    bytes_sent = serializers.IntegerField()


class WireTransportSerializer(serializers.Serializer):
    bytes_sent = serializers.IntegerField()
    bytes_received = serializers.IntegerField()


class WireByTransportSerializer(serializers.Serializer):
    deflate = WireTransportSerializer(help_text="Connections with permessage-deflate.")
    plain = WireTransportSerializer(help_text="Connections without it.")


class WireSerializer(serializers.Serializer):
    bytes_sent = serializers.IntegerField(help_text="Bytes written to sockets (after deflate).")
    bytes_received = serializers.IntegerField()
    by_transport = WireByTransportSerializer()


class StreamCodecSerializer(serializers.Serializer):
    frames = serializers.IntegerField()
    bytes_sent = serializers.IntegerField()


class StreamProcessSerializer(serializers.Serializer):
    streams = serializers.IntegerField(help_text="Group streams with a compressor.")
    members = serializers.IntegerField(help_text="Connections in them.")
    compressor_memory = serializers.IntegerField(help_text="Bytes their compressors hold.")
    zstd_streams = serializers.IntegerField(help_text="Of those streams, zstd ones.")
    zstd_memory = serializers.IntegerField(help_text="Bytes the zstd compressors hold.")


class StreamStatsSerializer(serializers.Serializer):
    frames = serializers.IntegerField(help_text="Group-stream frames sent (one per member).")
    bytes_sent = serializers.IntegerField(help_text="Their bytes, WebSocket headers included.")
    bytes_original = serializers.IntegerField(help_text="What plain JSON (v1) would have sent.")
    resyncs = serializers.IntegerField(help_text="Resync requests of clients.")
    by_codec = serializers.DictField(
        child=StreamCodecSerializer(), help_text='Per stream codec: "deflate", "zstd".'
    )
    process = StreamProcessSerializer(help_text="This process's streams now (a gauge).")


class DeltaEventSerializer(serializers.Serializer):
    delta_frames = serializers.IntegerField()
    full_frames = serializers.IntegerField()


class DeltaStatsSerializer(serializers.Serializer):
    delta_frames = serializers.IntegerField(help_text="Keyed events sent as deltas.")
    full_frames = serializers.IntegerField(help_text="Keyed events sent as full objects.")
    bytes_saved = serializers.IntegerField(help_text="Full frame bytes minus delta frame bytes.")
    resyncs = serializers.IntegerField(help_text="Keys clients asked to get whole again.")
    evicted = serializers.IntegerField(help_text="Last versions forgotten over the limits.")
    entity_refs = serializers.IntegerField(help_text="Entity references sent.")
    entity_defs = serializers.IntegerField(help_text="Entity definitions sent.")
    entity_bytes_saved = serializers.IntegerField(help_text="Bytes saved by entity references.")
    entity_evicted = serializers.IntegerField(help_text="Entities forgotten over the limit.")
    entity_resyncs = serializers.IntegerField(help_text="Unresolved references clients reported.")
    events = serializers.DictField(child=DeltaEventSerializer(), help_text="Per event name.")


class SeriesPointSerializer(serializers.Serializer):
    minute = serializers.DateTimeField(help_text="Start of the minute (UTC).")
    messages = serializers.IntegerField()
    bytes_original = serializers.IntegerField()
    bytes_optimized = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    """``GET stats``: the original's seven fields first, then the breakdowns."""

    total_messages = serializers.IntegerField()
    total_bytes_original = serializers.IntegerField(
        help_text="What plain JSON (protocol v1) would have sent."
    )
    total_bytes_optimized = serializers.IntegerField(help_text="What was sent.")
    reduction_percentage = serializers.FloatField()
    compressed_messages = serializers.IntegerField()
    avg_message_size = serializers.IntegerField(help_text="Optimized bytes per message.")
    active_connections = serializers.IntegerField()
    connections = ConnectionsSerializer()
    batches = BatchesSerializer()
    events = serializers.DictField(child=EventStatsSerializer(), help_text="Per event name.")
    errors = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rejected client messages per error code."
    )
    fallbacks = serializers.DictField(
        child=serializers.IntegerField(), help_text="Payloads sent unoptimized, per reason."
    )
    by_encoding = serializers.DictField(
        child=EncodingStatsSerializer(),
        help_text='Per encoding: "json" (v1 and reznet.v2), "msgpack" (reznet.v2.msgpack).',
    )
    wire = WireSerializer()
    streams = StreamStatsSerializer(help_text="Broadcasts sent in group streams.")
    deltas = DeltaStatsSerializer(help_text="Keyed events (deltas).")
    series = SeriesPointSerializer(many=True, help_text="The last 60 minutes, oldest first.")
    since = serializers.DateTimeField(allow_null=True, help_text="Start of counting (last reset).")
    enabled = serializers.BooleanField(help_text="STATS_ENABLED.")


class ResetSerializer(serializers.Serializer):
    """``POST stats/reset``."""

    message = serializers.CharField()
    stats = StatsSerializer()


class ComponentSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["up", "down", "timeout", "disabled", "not_configured"],
        help_text="timeout: no answer within the probe's bound (the endpoint never waits longer).",
    )
    detail = serializers.CharField(required=False, help_text="Why the component is not up.")


class ComponentsSerializer(serializers.Serializer):
    cache = ComponentSerializer()
    channel_layer = ComponentSerializer()


class PerformanceSerializer(serializers.Serializer):
    total_messages = serializers.IntegerField()
    reduction_percentage = serializers.FloatField()


class HealthStatusSerializer(serializers.Serializer):
    """``GET health`` for every caller: the status only."""

    status = serializers.ChoiceField(
        choices=["healthy", "degraded", "unhealthy"],
        help_text="200 with healthy or degraded (a component is down or timed out); 503 with "
        "unhealthy (this process cannot serve: its channel layer cannot be built).",
    )


class HealthSerializer(HealthStatusSerializer):
    """``GET health``: the status; the rest only for callers with ``STATS_PERMISSION_CLASSES``."""

    active_connections = serializers.IntegerField(allow_null=True, required=False)
    features = serializers.DictField(child=serializers.BooleanField(), required=False)
    performance = PerformanceSerializer(allow_null=True, required=False)
    components = ComponentsSerializer(required=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
