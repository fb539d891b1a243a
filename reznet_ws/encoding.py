"""Django-side glue around the pure codec: codecs from settings, encode-once event holders."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.dispatch import receiver

from .codec import Codec, FieldMap
from .codec.msgpack_frames import msgpack_codec
from .conf import get_config
from .stats import get_recorder, log_payload

__all__ = ["BroadcastCache", "EncodedEvent", "broadcast_cache", "codec_for", "default_field_map"]

logger = logging.getLogger("reznet_ws.encoding")
_json_default = DjangoJSONEncoder().default
_fallbacks_logged: set[tuple[str, str]] = set()
_MISSING: Any = object()


@functools.lru_cache(maxsize=1)
def default_field_map() -> FieldMap:
    """Return the field map configured in ``settings.REZNET_WS`` (cached until it changes)."""
    return FieldMap.from_settings(get_config())


@functools.lru_cache(maxsize=64)
def _codec(field_map_hash: str, field_map: FieldMap) -> Codec:
    config = get_config()
    return Codec(
        field_map,
        gzip_threshold=config["GZIP_THRESHOLD"],
        gzip_level=config["GZIP_LEVEL"],
        gzip_min_saving=config["GZIP_MIN_SAVING"],
        max_message_bytes=config["MAX_MESSAGE_BYTES"],
        max_depth=config["MAX_DEPTH"],
        max_inflate_bytes=config["MAX_INFLATE_BYTES"],
        default=_json_default,
        json_backend=config["JSON_BACKEND"],
    )


def codec_for(field_map: FieldMap) -> Codec:
    """Return the shared codec for ``field_map`` with the current settings."""
    return _codec(field_map.hash, field_map)


@receiver(setting_changed)
def _clear_caches(*, setting: str, **kwargs: Any) -> None:
    if setting == "REZNET_WS":
        default_field_map.cache_clear()
        _codec.cache_clear()


class EncodedEvent:
    """One event and its encodings, each computed at most once (per codec for v2).

    The v1 size that the stats and the payload log report comes from the v1 text when there is
    one (a v1 recipient, a broadcast from the channel layer), else from the v2 encoding's walk,
    which measures it exactly without writing the v1 text.
    """

    __slots__ = ("_data", "_frames", "_has_data", "_packed", "_v1", "_v1_size", "_v2", "event")

    def __init__(self, event: str, data: Any = None, v1: str | None = None) -> None:
        self.event = event
        self._data = data
        self._has_data = v1 is None
        self._v1 = v1
        self._v1_size: int | None = None
        self._v2: dict[int, str | None] = {}
        self._frames: dict[tuple[int, bool], tuple[str | bytes, bool, int]] = {}
        self._packed: dict[int, tuple[bytes, bytes] | None] = {}

    @property
    def data(self) -> Any:
        """The event's data (parsed back from the v1 text when built from a broadcast)."""
        if not self._has_data:
            self._data = json.loads(self._v1)["data"]  # type: ignore[arg-type]
            self._has_data = True
        return self._data

    def v1_text(self, codec: Codec) -> str:
        """Return the v1 frame: exactly what a plain Channels JSON consumer sends."""
        if self._v1 is None:
            self._v1 = codec.encode_v1(self.event, self._data)
        return self._v1

    def v1_size(self, codec: Codec) -> int:
        """Return the size in bytes of the v1 frame (ASCII, so characters are bytes).

        Writes the v1 text only when neither it nor the v2 encoding's measure is at hand.
        """
        if self._v1 is not None:
            return len(self._v1)
        if self._v1_size is None:
            return len(self.v1_text(codec))
        return self._v1_size

    def v2_data_text(self, codec: Codec) -> str | None:
        """Return the encoded DATA text for ``codec``, or None when it cannot be optimized."""
        key = id(codec)
        text = self._v2.get(key, _MISSING)
        if text is not _MISSING:
            return text  # type: ignore[return-value]
        try:
            text, size = codec.encode_data_sized(self._data if self._has_data else self.data)
            if size is not None and self._v1_size is None:
                self._v1_size = codec.v1_size_from_data(self.event, size)
        except (ValueError, TypeError, RecursionError) as exc:
            text = None
            reason = type(exc).__name__
            get_recorder().record_fallback(reason)
            if (self.event, reason) not in _fallbacks_logged:
                _fallbacks_logged.add((self.event, reason))
                logger.warning(
                    "Event %r could not be optimized (%s: %s); sent in the plain encoding",
                    self.event,
                    reason,
                    exc,
                )
        self._v2[key] = text
        return text

    def v2_frame(self, codec: Codec, allow_gzip: bool) -> tuple[str | bytes, bool, int]:
        """Return ``(payload, compressed, size in bytes)`` of the event's v2 frame.

        Only call after :meth:`v2_data_text` returned text. Computed once per codec and gzip
        permission, then shared by every recipient in this process.
        """
        key = (id(codec), allow_gzip)
        frame = self._frames.get(key)
        if frame is None:
            text = codec.event_frame(self.event, self._v2[id(codec)])  # type: ignore[arg-type]
            payload: str | bytes
            if 4 * len(text) < codec.gzip_threshold:  # too small for gzip even as UTF-8
                payload, compressed = text, False
            else:
                payload, compressed = codec.finalize(text, allow_gzip=allow_gzip)
            if isinstance(payload, bytes) or payload.isascii():
                size = len(payload)
            else:
                size = len(payload.encode("utf-8"))
            frame = self._frames[key] = (payload, compressed, size)
            threshold = get_config()["LOG_PAYLOAD_THRESHOLD"]
            original = self._v1_size if self._v1 is None else None
            if original is None:
                original = self.v1_size(codec)
            if threshold is not None and original >= threshold:
                log_payload(self.event, original, size)
        return frame

    def msgpack_frames(self, codec: Codec) -> tuple[bytes, bytes] | None:
        """Return the packed DATA and event frame for ``reznet.v2.msgpack``, or None (send v1).

        Computed once per codec, then shared by every msgpack recipient in this process.
        """
        key = id(codec)
        try:
            return self._packed[key]
        except KeyError:
            pass
        packed: tuple[bytes, bytes] | None = None
        try:
            frames = msgpack_codec(codec)
            data = frames.encode_event_data(self.event, self.data)
            packed = (data, frames.event_frame(self.event, data))
        except (ValueError, TypeError, RecursionError) as exc:
            get_recorder().record_fallback(type(exc).__name__)
            logger.debug("Event %r sent in the plain encoding (%r)", self.event, exc)
        self._packed[key] = packed
        return packed


class BroadcastCache:
    """A small per-process LRU of broadcast events, so each is encoded once per process."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, EncodedEvent] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, message_id: str, encoded: EncodedEvent) -> None:
        """Remember the sender's own encodings (its local members reuse them)."""
        with self._lock:
            self._items[message_id] = encoded
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_create(self, message_id: str, event: str, v1: str) -> EncodedEvent:
        """Return the cached event for ``message_id``, building it from its v1 text if new."""
        with self._lock:
            encoded = self._items.get(message_id)
            if encoded is None:
                encoded = self._items[message_id] = EncodedEvent(event, v1=v1)
                if len(self._items) > self.size:
                    self._items.popitem(last=False)
            return encoded


_broadcast_cache = BroadcastCache()


def broadcast_cache() -> BroadcastCache:
    """Return the process-wide broadcast cache."""
    return _broadcast_cache
