"""Keyed and delta frames of the MessagePack encoding (docs/protocol.md sections 3.2 and 7).

A keyed frame on ``reznet.v2.msgpack`` is the JSON keyed frame of section 3.2 (full or delta,
whatever members it has), parsed and written as one MessagePack map: the delta is computed once
on the encoded DATA, as for JSON, and the same frame object is only written differently. A frame
MessagePack cannot carry so that the receiver gets ``JSON.parse`` of its JSON text goes as that
JSON text (a text frame), which a ``reznet.v2.msgpack`` receiver decodes as on ``reznet.v2``.

Pure: no Django or Channels imports.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ProtocolError
from .msgpack_frames import MsgpackCodec

__all__ = ["decode_keyed", "keyed_payload"]

try:  # parsing the frame text back is on the keyed broadcast path: orjson when it is there
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - json gives the same values
    _orjson_loads = None  # type: ignore[assignment]


# 20 digits in a row may be an integer beyond 64 bits, which orjson would read as a float. The
# text is mapped to "0" for digits and "x" for the rest (bytes.translate: far faster than a
# regular expression here) and searched for 20 zeros.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x78 for i in range(256))
_LONG_RUN = b"0" * 20


def _long_digit_run(text: str) -> bool:
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS)


def _loads(text: str) -> Any:
    # orjson refuses escaped lone surrogates and reads integers beyond 64 bits as floats: json
    # takes those (and MessagePack then refuses them, so the frame goes as its JSON text).
    if _orjson_loads is not None and not _long_digit_run(text):
        try:
            return _orjson_loads(text)
        except ValueError:
            pass
    return json.loads(text)


def keyed_payload(frames: MsgpackCodec, text: str) -> bytes | str:
    """Return the keyed frame ``text`` (JSON) as the binary MessagePack frame, or ``text``.

    Called once per keyed frame and encoding (per broadcast, not per member). ``text`` is
    returned, to be sent as a text frame, when MessagePack cannot carry the frame losslessly
    (integers beyond 64 bits, lone surrogates, a key ``__proto__``, nesting past the parser).
    """
    try:
        return frames.pack_json(_loads(text))
    except (ValueError, TypeError, RecursionError):
        return text


def decode_keyed(frames: MsgpackCodec, frame: bytes) -> dict[str, Any]:
    """Return the keyed frame object of a binary frame, as a client receives it.

    Raises :class:`ProtocolError` for bytes that are not one MessagePack map with ``"k"``.
    """
    obj = frames.unpack(bytes(frame), 1 << 30)
    if type(obj) is not dict or "_v" not in obj or "k" not in obj:
        raise ProtocolError("invalid_frame", 'a keyed frame is a map with "_v" and "k"')
    return obj
