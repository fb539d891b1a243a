"""The codec: v1 and v2 frames out (docs/protocol.md, sections 2-6); client messages in are in
:mod:`.frames_in`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from .compression import gzip_compress
from .fastjson import (
    ascii_escaped,
    ascii_json_length,
    float_length_fix,
    orjson_dumps,
    resolve_backend,
)
from .fields import DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS, FieldMap
from .frames_in import Decoding
from .jsonshim import compact_dumps
from .jsonvalues import django_default
from .unwalk import make_decoder
from .walk_text import make_text_encoder

__all__ = ["Codec"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_EVENT_CACHE_SIZE = 1024
_DEFAULT_MAP = FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS)


class Codec(Decoding):
    """Encodes events for one field map and decodes client messages under size/depth limits.

    ``default`` converts values JSON has no type for, as ``json.dumps(default=...)`` does; without
    it they are converted the way Django's ``DjangoJSONEncoder`` converts them. ``json_backend``
    (``"auto"``, ``"orjson"`` or ``"stdlib"``) selects what writes DATA text: ``"auto"`` uses
    orjson when it is installed; the decoded value is the same either way. A codec is
    immutable after construction apart from internal caches, so one instance can serve every
    connection that uses the same map.
    """

    def __init__(
        self,
        field_map: FieldMap | None = None,
        *,
        gzip_threshold: int = 10240,
        gzip_level: int = 6,
        gzip_min_saving: float = 0.10,
        max_message_bytes: int = 1_048_576,
        max_depth: int = 64,
        max_inflate_bytes: int = 1_048_576,
        default: Callable[[object], object] | None = None,
        json_backend: str = "auto",
    ) -> None:
        self.field_map = field_map if field_map is not None else _DEFAULT_MAP
        self.gzip_threshold = gzip_threshold
        self.gzip_level = gzip_level
        self.gzip_min_saving = gzip_min_saving
        self.max_message_bytes = max_message_bytes
        self.max_depth = max_depth
        self.max_inflate_bytes = max_inflate_bytes
        self.default = default if default is not None else django_default
        self.json_backend = resolve_backend(json_backend)
        self._fast = orjson_dumps() if self.json_backend == "orjson" else None
        self._dump = compact_dumps(ensure_ascii=False)
        self._dump_ascii = compact_dumps(ensure_ascii=True)
        # The walk, and the walk writing its own text (for json; orjson writes the walk's value).
        self._encode_value, self._encode_text = make_text_encoder(
            self.field_map, self.default, self._dump
        )
        self._decode_value = make_decoder(self.field_map)
        raw = {"separators": (",", ":"), "allow_nan": False, "default": self.default}
        self._dump_raw = json.JSONEncoder(ensure_ascii=False, **raw).encode  # type: ignore[arg-type]
        self._dump_raw_ascii = json.JSONEncoder(**raw).encode  # type: ignore[arg-type]
        self._dump_v1 = json.JSONEncoder(default=self.default).encode
        self._events: dict[str, str] = {}
        self._v1_heads: dict[str, int] = {}
        #: event -> (the v2 event frame up to DATA, the length of the v1 frame up to its data).
        self._heads: dict[str, tuple[str, int, int]] = {}

    @property
    def map_hash(self) -> str:
        """Return the ``map_hash`` of this codec's field map."""
        return self.field_map.hash

    # -- v1 -----------------------------------------------------------------------------------

    def encode_v1(self, event: str, data: object) -> str:
        """Return the v1 frame: ``json.dumps({"event": event, "data": data}, default=...)``."""
        return self._dump_v1({"event": event, "data": data})

    def v1_size(self, event: str, data: object) -> int:
        """Return the size in bytes of the v1 frame for ``event`` and ``data`` (for statistics)."""
        return len(self.encode_v1(event, data))  # ASCII only, so characters are bytes

    def v1_size_from_data(self, event: str, data_size: int) -> int:
        """Return the v1 frame's size for ``event`` given the v1 size of its data alone.

        ``data_size`` is the second item of :meth:`encode_data_sized`.
        """
        head = self._v1_heads.get(event)
        if head is None:
            head = len(self.encode_v1(event, None)) - len("null}")
            if len(self._v1_heads) < _EVENT_CACHE_SIZE:
                self._v1_heads[event] = head
        return head + data_size + 1

    # -- v2 out -------------------------------------------------------------------------------

    def encode_data(self, data: object) -> str:
        """Return the compact JSON text of ``data`` encoded as DATA (protocol section 4).

        The text is ASCII-escaped only when it would otherwise hold lone surrogates, so it always
        encodes to UTF-8. Raises :class:`ValueError` (NaN, infinities), :class:`TypeError`
        (unserializable values) or :class:`RecursionError` (too deep or circular data); callers
        then send v1.
        """
        return self.encode_data_sized(data)[0]

    def encode_data_sized(self, data: object) -> tuple[str, int | None]:
        """Return :meth:`encode_data`'s text and the size of v1's JSON of ``data``.

        The size is what ``len(json.dumps(data, default=...))`` would be, computed from the same
        walk without writing that text; it is None in the rare case the walk cannot know it
        (two keys that v1 writes separately and DATA as one, such as ``1`` and ``"1"``).
        Raises as :meth:`encode_data` does.
        """
        text, size, _ = self._measured(data)
        return text, size

    def _measured(self, data: object) -> tuple[str, int | None, int]:
        # encode_data_sized's text and v1 size, and the text's length in UTF-8.
        tally = [0, 0, 0, 0]
        if self._fast is None:
            try:
                text = self._encode_text(data, tally)
            except ValueError:
                # json refused a value (NaN, an infinity, an int past 4,300 digits) that the text
                # path met before another error the walk raises first: the walk then json decide
                # which error the data raises, the same every time.
                self._dump(self._encode_value(data, [0, 0, 0, 0]))
                raise
        else:
            value = self._encode_value(data, tally)
            extra, nulls, floats, inexact = tally
            try:
                packed = self._fast(value)
            except TypeError:  # beyond 64-bit integers, lone surrogates, nesting past 255
                packed = None
            # orjson writes NaN and infinities as null: more nulls than the walk counted means
            # the value may hold them (or a string holds "null"), and json decides. Without a
            # float (the walk flags every one) there is none; without an "n" there is no null.
            # With keys that collide (inexact) the walk's null count is not the text's: json
            # decides whenever a float may hide among the nulls.
            if packed is not None and (
                not floats or b"n" not in packed or (not inexact and packed.count(b"null") == nulls)
            ):
                text = packed.decode("utf-8")
                if inexact:
                    return text, None, len(packed)
                if floats & 2:  # a float orjson writes otherwise than repr
                    extra += float_length_fix(packed)
                if text.isascii() and "\x7f" not in text:  # ascii_json_length's common case
                    return text, len(text) + extra, len(packed)
                return text, ascii_json_length(text, packed) + extra, len(packed)
            text = self._dump(value)
        extra, inexact = tally[0], tally[3]
        if text.isascii():
            return text, None if inexact else ascii_json_length(text) + extra, len(text)
        try:
            packed = text.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate code point: UTF-8 cannot carry it unescaped
            text = ascii_escaped(text)
            return text, None if inexact else ascii_json_length(text) + extra, len(text)
        return text, None if inexact else ascii_json_length(text, packed) + extra, len(packed)

    def encode_event_measured(self, event: str, data: object) -> tuple[str, int, int]:
        """Return the v2 event frame for ``event`` and ``data``, the length of its v1 frame and
        its own length in UTF-8.

        The v1 length is what ``len(encode_v1(event, data))`` is (the stats' original size),
        known from the walk without writing the v1 text except in the rare case
        :meth:`encode_data_sized` cannot know it. Raises as :meth:`encode_data` does.
        """
        heads = self._heads.get(event)
        if heads is None:
            heads = self._event_heads(event)
        text, size, sent = self._measured(data)
        frame = f"{heads[0]}{text}}}"
        if size is None:
            return frame, len(self.encode_v1(event, data)), heads[2] + sent
        return frame, heads[1] + size, heads[2] + sent

    def _event_heads(self, event: str) -> tuple[str, int, int]:
        # The frame up to DATA; the v1 frame's length less its data's; the frame's UTF-8 length
        # less its data's (both count the closing brace).
        head = f'{{"_v":2,"e":{self._event_json(event)},"d":'
        heads = (head, self.v1_size_from_data(event, 0), len(head.encode("utf-8")) + 1)
        if len(self._heads) < _EVENT_CACHE_SIZE:
            self._heads[event] = heads
        return heads

    def encode_event(self, event: str, data: object) -> str:
        """Return the v2 event frame for ``event`` and ``data`` (encode_data, then event_frame)."""
        return self.event_frame(event, self.encode_data(data))

    def event_frame(self, event: str, data_text: str) -> str:
        """Return the v2 event frame around ``data_text`` (the result of :meth:`encode_data`)."""
        return f'{{"_v":2,"e":{self._event_json(event)},"d":{data_text}}}'

    def raw_frame(self, event: str, data: object) -> str:
        """Return the raw v2 frame (``"r":1``) carrying ``data`` as plain JSON."""
        text = self._dump_raw(data)
        if not text.isascii() and _SURROGATE.search(text):
            text = self._dump_raw_ascii(data)
        return f'{{"_v":2,"e":{self._event_json(event)},"r":1,"d":{text}}}'

    def batch_frame(self, items: Sequence[tuple[str, str]]) -> str:
        """Return the v2 batch frame of ``items``, pairs of (event, :meth:`encode_data` text)."""
        entries = ",".join(f"[{self._event_json(event)},{text}]" for event, text in items)
        return f'{{"_v":2,"b":[{entries}]}}'

    def finalize(self, frame_text: str, *, allow_gzip: bool = True) -> tuple[str | bytes, bool]:
        """Return ``(frame_text, False)``, or ``(gzip bytes, True)`` when compressing pays.

        Compresses only when ``allow_gzip`` (false on permessage-deflate connections), the UTF-8
        frame has at least ``gzip_threshold`` bytes and gzip saves more than ``gzip_min_saving``.
        """
        threshold = self.gzip_threshold
        if not allow_gzip:
            return frame_text, False
        size = len(frame_text)
        if size < threshold and (frame_text.isascii() or size * 4 < threshold):
            return frame_text, False
        data = frame_text.encode("utf-8")
        if len(data) < threshold:
            return frame_text, False
        packed = gzip_compress(data, self.gzip_level)
        if len(packed) < len(data) * (1.0 - self.gzip_min_saving):
            return packed, True
        return frame_text, False

    def _event_json(self, event: str) -> str:
        text = self._events.get(event)
        if text is None:
            if not isinstance(event, str):
                raise TypeError(f"an event name must be a str, not {type(event).__name__}")
            text = self._dump(str.__str__(event))
            if _SURROGATE.search(text):
                text = self._dump_ascii(str.__str__(event))
            if len(self._events) < _EVENT_CACHE_SIZE:
                self._events[event] = text
        return text
