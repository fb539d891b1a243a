"""Write tests/vectors/msgpack_delta.json and msgpack_stream.json (reznet.v2.msgpack).

Run from the repository root: ``python tests/vectors/msgpack_layers_generate.py``. Every series
of tests/vectors/delta.json (protocol section 3.2) is written as a ``reznet.v2.msgpack`` server
sends it (section 7): each keyed frame packed, base64 in ``bytes``, or, when MessagePack cannot
carry it losslessly, its JSON text in ``text``. Plus series of this encoding's own: 64-bit
integers, floats, and values that make a frame go as JSON text. Each frame is checked while it is
generated: the Python receiver rebuilds exactly what parsing v1 gives. tests/test_msgpack_vectors
_layers.py checks the committed file is fresh; tests/js/msgpack_layers.test.mjs decodes it with
@msgpack/msgpack and the client's KeyedCache.

msgpack_stream.json holds group-stream sessions of a MessagePack member (protocol 3.3 and 7):
the binary frames in order, each with the message it carries (base64 ``message`` of a binary
frame, or ``text``) and the events it decodes to, or the error a receiver raises.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reznet_ws.codec import (  # noqa: E402
    DEFAULT_FIELD_MAP,
    DEFAULT_TIMESTAMP_FIELDS,
    PROTOCOL_VERSION,
    Codec,
    FieldMap,
)
from reznet_ws.codec.delta import delta_frame, diff, dump_ops, keyed_frame, same  # noqa: E402
from reznet_ws.codec.errors import ProtocolError  # noqa: E402
from reznet_ws.codec.keyed_receiver import KeyedReceiver  # noqa: E402
from reznet_ws.codec.msgpack_frames import msgpack_codec  # noqa: E402
from reznet_ws.codec.msgpack_keyed import keyed_payload  # noqa: E402
from reznet_ws.codec.msgpack_stream import MsgpackStreamDecoder, stream_message  # noqa: E402
from reznet_ws.codec.stream import StreamEncoder  # noqa: E402

__all__ = ["DELTA_OUT", "STREAM_OUT", "build_delta", "build_stream", "main"]

HERE = Path(__file__).resolve().parent
DELTA_OUT = HERE / "msgpack_delta.json"
STREAM_OUT = HERE / "msgpack_stream.json"
CODEC = Codec(FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS))

#: Series of this encoding: (name, versions of one keyed object).
OWN_SERIES: list[tuple[str, list[object]]] = [
    (
        "msgpack_integers",
        [
            {"n": 1, "big": 2**53 + 1},
            {"n": 2**63 - 1, "big": 2**64 - 1},
            {"n": -(2**63), "big": -(2**53) - 1},
        ],
    ),
    ("msgpack_floats", [{"f": 1.0, "z": 0.0}, {"f": -0.0, "z": 0.5}, {"f": 1e300, "z": -1.5}]),
    # 2**64 has no MessagePack integer, a lone surrogate no UTF-8, and @msgpack/msgpack refuses
    # a key __proto__: those frames go as JSON text, the others packed, in one series.
    (
        "msgpack_falls_back_per_frame",
        [
            {"v": 1, "big": 1},
            {"v": 2, "big": 2**64},
            {"v": 3, "big": 2},
            {"v": 4, "s": "\ud800"},
            {"v": 5},
            {"v": 6, "o": {"__proto__": 1}},
            {"v": 7},
        ],
    ),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _frame_texts(name: str, versions: list[object]) -> list[tuple[str, object, bool]]:
    # (JSON keyed frame, what v1 delivers, is a delta) per version, as delta.json writes them.
    out = []
    previous: object = None
    for version, value in enumerate(versions, 1):
        text = CODEC.encode_data(value)
        encoded = json.loads(text)
        if version == 1:
            frame = keyed_frame(CODEC, "live", name, version, "0a1b2c3d", text)
        else:
            frame = delta_frame(CODEC, "live", name, version, dump_ops(diff(previous, encoded)))
        previous = encoded
        out.append((frame, json.loads(CODEC.encode_v1("live", value))["data"], version > 1))
    return out


def _item(text: str, expected: object, delta: bool, gap: bool = False) -> dict[str, Any]:
    payload = keyed_payload(msgpack_codec(CODEC), text)
    item: dict[str, Any] = (
        {"bytes": _b64(payload)} if isinstance(payload, bytes) else {"text": payload}
    )
    if gap:
        item.update(expected=None, gap=True)
    else:
        item.update(expected=expected, delta=delta)
    return item


def _check(series: dict[str, Any]) -> None:
    frames = msgpack_codec(CODEC)
    receiver = KeyedReceiver(CODEC)
    for item in series["frames"]:
        if "bytes" in item:
            frame = frames.unpack(base64.b64decode(item["bytes"]), 1 << 30)
        else:
            frame = json.loads(item["text"])
        got = receiver.receive(frame)  # type: ignore[arg-type]
        assert same(None if got is None else got[1], item["expected"]), series["name"]


def build_delta() -> dict[str, Any]:
    """Return the content of msgpack_delta.json."""
    source = json.loads((HERE / "delta.json").read_text(encoding="utf-8"))
    assert source["field_map"] == dict(DEFAULT_FIELD_MAP)
    series = []
    for stream in source["streams"]:
        items = [
            _item(f["frame"], f["expected"], f.get("delta", False), f.get("gap", False))
            for f in stream["frames"]
        ]
        series.append({"name": stream["name"], "frames": items})
    for name, versions in OWN_SERIES:
        items = [_item(*frame) for frame in _frame_texts(name, versions)]
        series.append({"name": name, "frames": items})
    for item in series:
        _check(item)
    return {
        "protocol_version": PROTOCOL_VERSION,
        "field_map": dict(DEFAULT_FIELD_MAP),
        "timestamp_fields": sorted(DEFAULT_TIMESTAMP_FIELDS),
        "streams": series,
    }


def _message(event: str, data: object) -> bytes:
    # What a msgpack member receives for an event: the packed frame, or the v1 text.
    frames = msgpack_codec(CODEC)
    try:
        return frames.event_frame(event, frames.encode_event_data(event, data))
    except ValueError:
        return CODEC.encode_v1(event, data).encode("utf-8")


_EVENTS: list[tuple[str, object]] = [
    ("message_new", {"message_id": "m1", "content": "hi", "created_at": "2025-10-25T12:00:00Z"}),
    (
        "message_new",
        {"message_id": "m2", "content": "hi again\n", "created_at": "2025-10-25T12:00:01Z"},
    ),
    ("book", {"bids": [[59990.5, 1.25]], "asks": [[60000, 2]], "seq": 2**63 - 1}),
    ("big", {"n": 2**64}),  # beyond 64 bits: v1 text inside the stream
    ("lines", {"blob": "\n" * 20000, "bytes_0a": [10] * 300}),  # 0x0a everywhere, >16 KiB
    ("floats", {"one": 1.0, "negative_zero": -0.0}),
]


def _stream_sessions() -> list[dict[str, Any]]:
    encoder = StreamEncoder(3)
    encoder.terminator = b""
    plain: list[dict[str, Any]] = []
    for index, (event, data) in enumerate(_EVENTS):
        if index == 3:
            encoder.start_epoch()  # a second epoch: a fresh inflater
        message = _message(event, data)
        expected = [[event, json.loads(CODEC.encode_v1(event, data))["data"]]]
        entry: dict[str, Any] = {"bytes": _b64(encoder.encode(stream_message(message)))}
        if message[:1] == b"{":
            entry["text"] = message.decode("utf-8")
        else:
            entry["message"] = _b64(message)
        entry["events"] = expected
        plain.append(entry)
    broken = StreamEncoder(4)
    broken.terminator = b""
    bad = [
        {"bytes": _b64(broken.encode(b"\x02\x81\xa1a\x01")), "error": "decompression_failed"},
        {"bytes": _b64(broken.encode(stream_message(_message("x", 1)))), "error": "stream_gap"},
    ]
    broken.start_epoch()
    healed = _message("x", 2)
    bad.append(
        {
            "bytes": _b64(broken.encode(stream_message(healed))),
            "message": _b64(healed),
            "events": [["x", 2]],
        }
    )
    return [
        {"name": "msgpack_stream_epochs", "frames": plain},
        {"name": "msgpack_stream_bad_length_then_gap_then_epoch", "frames": bad},
    ]


def _check_stream(session: dict[str, Any]) -> None:
    decoder = MsgpackStreamDecoder(1 << 24)
    frames = msgpack_codec(CODEC)
    for item in session["frames"]:
        data = base64.b64decode(item["bytes"])
        if "error" in item:
            try:
                decoder.decode_message(data)
            except ProtocolError as exc:
                assert exc.code == item["error"], session["name"]
            else:
                raise AssertionError(f"{session['name']}: no error")
            continue
        got = decoder.decode_message(data)
        assert got == (item["text"] if "text" in item else base64.b64decode(item["message"]))
        events = [list(pair) for pair in frames.decode_frame(got)]
        assert all(same(a, b) for a, b in zip(events, item["events"], strict=True))


def build_stream() -> dict[str, Any]:
    """Return the content of msgpack_stream.json."""
    sessions = _stream_sessions()
    for session in sessions:
        _check_stream(session)
    return {"protocol_version": PROTOCOL_VERSION, "sessions": sessions}


def _write(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    """Write the files next to this module."""
    _write(DELTA_OUT, build_delta())
    _write(STREAM_OUT, build_stream())


if __name__ == "__main__":
    main()
