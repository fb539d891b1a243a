"""Content frames: ``send_json(content)`` on v2, ``{"_v":2,"c":DATA}`` (docs/protocol.md, 3.1).

A content frame carries an application's own JSON message (what a plain Channels consumer sends
with ``send_json``) encoded as DATA. Its reference is v1's text of the content, ``json.dumps
(content)``: a receiver's decoded value equals the parse of that text. Clients that decode content
frames say so at the handshake with ``reznet_features=content`` in the URL; every other
connection gets the v1 text.
"""

from __future__ import annotations

import json
import sys
import weakref
from collections.abc import Iterable
from urllib.parse import parse_qs

from .compression import gzip_inflate
from .errors import ProtocolError
from .frames import Codec
from .incoming import load_json

__all__ = [
    "CONTENT_EVENT",
    "CONTENT_FEATURE",
    "FEATURES_PARAM",
    "accepts_content",
    "content_frame",
    "decode_content_frame",
    "encode_content",
    "encode_v1_content",
    "is_content_frame",
    "strict_codec",
]

#: The query parameter listing the optional frame kinds a client decodes (comma-separated).
FEATURES_PARAM = "reznet_features"
#: The value of :data:`FEATURES_PARAM` announcing that the client decodes content frames.
CONTENT_FEATURE = "content"
#: The event name content frames are counted under in the stats.
CONTENT_EVENT = "(send_json)"

_strict: weakref.WeakKeyDictionary[Codec, Codec] = weakref.WeakKeyDictionary()


def accepts_content(query_string: bytes | str | None) -> bool:
    """Return True when the handshake's query string lists ``content`` in ``reznet_features``."""
    raw = query_string or b""
    query = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    return CONTENT_FEATURE in _features(query.get(FEATURES_PARAM, ()))


def _features(values: Iterable[str]) -> set[str]:
    return {name.strip() for value in values for name in value.split(",")}


def _reject(value: object) -> object:
    # What json.dumps without ``default`` does with a value JSON has no type for.
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def strict_codec(codec: Codec) -> Codec:
    """Return ``codec``'s twin that refuses what ``json.dumps`` refuses (built once per codec).

    ``send_json``'s reference is ``json.dumps(content)``, which raises :class:`TypeError` for a
    ``datetime`` or a ``Decimal``; the events' codec converts them as ``DjangoJSONEncoder`` does.
    """
    twin = _strict.get(codec)
    if twin is None:
        twin = _strict[codec] = Codec(
            codec.field_map,
            gzip_threshold=codec.gzip_threshold,
            gzip_level=codec.gzip_level,
            gzip_min_saving=codec.gzip_min_saving,
            max_message_bytes=codec.max_message_bytes,
            max_depth=codec.max_depth,
            max_inflate_bytes=codec.max_inflate_bytes,
            default=_reject,
            json_backend=codec.json_backend,
        )
    return twin


def encode_v1_content(content: object) -> str:
    """Return v1's text of ``content``: ``json.dumps(content)``, as Channels' ``encode_json``."""
    return json.dumps(content)


def encode_content(codec: Codec, content: object) -> tuple[str, int | None]:
    """Return the DATA text of ``content`` and the size of its v1 text (None when unknown).

    Raises :class:`ValueError` (NaN, infinities), :class:`TypeError` (values ``json.dumps``
    refuses) or :class:`RecursionError` (too deep); the caller then sends the v1 text.
    """
    return strict_codec(codec).encode_data_sized(content)


def content_frame(data_text: str) -> str:
    """Return the content frame around ``data_text`` (the result of :func:`encode_content`)."""
    return f'{{"_v":2,"c":{data_text}}}'


def is_content_frame(obj: object) -> bool:
    """Return True when the parsed frame ``obj`` is a content frame (it has ``_v`` and ``c``)."""
    return type(obj) is dict and "_v" in obj and "c" in obj


def decode_content_frame(codec: Codec, frame: str | bytes) -> object:
    """Return the content of a content frame (text, or a gzip member), as a client decodes it.

    Raises :class:`ProtocolError` (``unknown_version``, ``invalid_frame``, ...) for anything else.
    """
    if not isinstance(frame, str):
        frame = gzip_inflate(bytes(frame), codec.max_inflate_bytes).decode("utf-8")
    obj = load_json(frame, sys.maxsize)  # a client trusts the server's depth
    if not is_content_frame(obj):
        raise ProtocolError("invalid_frame", 'a content frame has "_v" and "c"')
    assert isinstance(obj, dict)
    version = obj["_v"]
    if type(version) not in (int, float) or version != 2:
        raise ProtocolError("unknown_version", f"unsupported _v {json.dumps(version)[:40]}")
    if "e" in obj or "b" in obj:
        raise ProtocolError("invalid_frame", 'a content frame has neither "e" nor "b"')
    try:
        return codec.decode_data(obj["c"])
    except ValueError as exc:
        raise ProtocolError("invalid_frame", str(exc)) from None
