"""The floor of a broadcast: one prebuilt frame written to every connected WebSocket, nothing else.

Measured inside the benchmark server, on the very sockets of the run, right before its broadcast
phase: for each round, the process CPU time of a Python loop that hands the same ``bytes`` object
(a complete text frame of the run's mean frame size) to ``socket.send`` of every WebSocket the
server holds. No framing, no JSON, no stats, no event loop turn per socket: what is left of a
broadcast when everything but the write is removed. wsbench reports CPU per broadcast as a ratio
to it.

The frame carries the event ``wsbench_floor``, which the load generator's clients ignore (it has
no ``bench_seq``), and is sent before the clients start counting.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

__all__ = ["floor_frame", "measure_floor", "websocket_sockets"]


def websocket_sockets(exclude_path: bytes = b"/ws/bench/control/") -> list[Any]:
    """Return the sockets of every open WebSocket this (daphne) process serves.

    Found through the Twisted reactor's readers: every TCP connection whose protocol is an open
    WebSocket protocol (it has ``sendData``), except those on ``exclude_path`` (the benchmark's
    control sockets). Empty on a server that is not Twisted-based.
    """
    try:
        from twisted.internet import reactor
    except ImportError:
        return []
    sockets = []
    for reader in reactor.getReaders():  # type: ignore[attr-defined]
        protocol = getattr(reader, "protocol", None)
        sock = getattr(reader, "socket", None)
        if protocol is None or sock is None or getattr(protocol, "path", None) == exclude_path:
            continue
        if hasattr(protocol, "sendData") and getattr(protocol, "state", None) == getattr(
            protocol, "STATE_OPEN", object()
        ):
            sockets.append(sock)
    return sockets


def floor_frame(size: int) -> bytes:
    """Return an unmasked text frame: a ``wsbench_floor`` event of ``size`` payload bytes."""
    head = json.dumps({"event": "wsbench_floor", "data": ""})
    pad = max(0, size - len(head))
    payload = json.dumps({"event": "wsbench_floor", "data": "x" * pad}).encode("ascii")
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 1 << 16:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


def measure_floor(sockets: list[Any], frame: bytes) -> float:
    """Write ``frame`` once to every socket; return the process CPU seconds it took.

    A socket whose buffer is full takes less (or raises BlockingIOError); the cost of that
    attempt is still counted, as a real write would pay it.
    """
    send_all = [sock.send for sock in sockets]
    start = time.process_time()
    for send in send_all:
        try:
            send(frame)
        except OSError:
            pass
    return time.process_time() - start


def summarize_rounds(rounds: list[float], sockets: int, frame: bytes) -> dict[str, Any]:
    """Return the figures of a floor measurement from the CPU seconds of each round."""
    median = statistics.median(rounds) if rounds else 0.0
    return {
        "sockets": sockets,
        "frame_bytes": len(frame),
        "rounds": len(rounds),
        "ms_per_broadcast": round(median * 1000, 3),
        "min_ms": round(min(rounds) * 1000, 3) if rounds else None,
        "us_per_recipient": round(median * 1e6 / sockets, 2) if sockets else None,
    }
