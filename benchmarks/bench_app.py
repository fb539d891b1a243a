"""The ASGI app of the load benchmark: our consumer, a plain Channels baseline and a ticker.

Routes (``bench_urlpatterns``, mountable in another project's router):

* ``ws/bench/ours/?group=G``: :class:`OursConsumer`, ``OptimizedConsumerMixin`` (v2 for clients
  that offer ``reznet.v2``), member of group ``G`` through the process hub (``join_group``), or
  through ``channel_layer.group_add`` with ``&hub=0``;
* ``ws/bench/baseline/?group=G``: :class:`BaselineConsumer`, a plain
  ``AsyncJsonWebsocketConsumer`` that gets the same events through ``group_send`` and a handler
  and sends them with ``send_json``, as a Channels project without reznet_ws would;
* ``ws/bench/control/``: :class:`ControlConsumer`. The load generator's orchestrator sends
  ``{"event": "start", "data": {"target": "ours"|"baseline", "group": G, "rate": R,
  "count": C}}`` and the ticker broadcasts ``C`` events of ``benchmarks.trace`` at ``R`` per
  second from inside this server process, so the broadcast path measured is the real one.
  Each event's data starts with ``bench_seq`` (0, 1, ...) and ``bench_t`` (``time.time()`` just
  before the broadcast call). It answers ``progress`` events while it runs and ``done`` at the end;
  ``server_stats`` returns this process's CPU time and RSS, ``clock`` its ``time.time()`` (so a
  load generator on another host can correct for clock offset).

Run alone (settings from the environment, see ``benchmarks/bench_settings.py``)::

    daphne -b 127.0.0.1 -p 8001 benchmarks.bench_app:application
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")
if not apps.ready:
    django.setup(set_prefix=False)

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from benchmarks.floor import floor_frame, measure_floor, summarize_rounds, websocket_sockets
from benchmarks.trace import make_trace
from reznet_ws.consumers import OptimizedConsumerMixin

__all__ = [
    "BaselineConsumer",
    "ControlConsumer",
    "OursConsumer",
    "application",
    "bench_urlpatterns",
    "process_stats",
]

#: Close code for a control socket without the right ``?token=``.
CLOSE_FORBIDDEN = 4003
_GROUP_RE = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
_MAX_RATE = 1000.0
_MAX_COUNT = 100_000
_TRACE_LEN = 1000
_PROGRESS_EVERY = 0.5  # seconds between two ``progress`` events on the control socket


def _query(scope: dict[str, Any], name: str) -> str | None:
    raw = scope.get("query_string", b"")
    values = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw).get(name)
    return values[-1] if values else None


def group_from_scope(scope: dict[str, Any]) -> str:
    """Return the group named by ``?group=`` (``wsbench`` without one); ValueError if invalid."""
    group = _query(scope, "group") or "wsbench"
    if not _GROUP_RE.match(group):
        raise ValueError(f"invalid group name {group!r}")
    return group


@functools.lru_cache(maxsize=1)
def _trace() -> list[tuple[str, dict[str, Any]]]:
    return make_trace(_TRACE_LEN)


def bench_event(seq: int) -> tuple[str, dict[str, Any]]:
    """Return event ``seq`` of the cyclic trace with ``bench_seq`` and ``bench_t`` in front.

    ``bench_t`` is 0.0 here: the ticker sets it just before the broadcast call.
    """
    event, data = _trace()[seq % _TRACE_LEN]
    return event, {"bench_seq": seq, "bench_t": 0.0, **data}


def mean_frame_size(target: str, count: int) -> int:
    """Return the mean payload size of the first ``count`` events of the trace as ``target`` sends
    them: v1 JSON for the baseline, v2 frames (gzip allowed) for ours."""
    from reznet_ws.codec import Codec

    codec = Codec()
    events = [bench_event(seq) for seq in range(max(1, min(count, _TRACE_LEN)))]
    sizes = []
    for event, data in events:
        if target == "baseline":
            sizes.append(len(json.dumps({"event": event, "data": data})))
        else:
            payload, _ = codec.finalize(codec.encode_event(event, data), allow_gzip=True)
            sizes.append(len(payload if isinstance(payload, bytes) else payload.encode()))
    return round(sum(sizes) / len(sizes))


def process_stats() -> dict[str, Any]:
    """Return this process's pid, CPU seconds (user + system, all threads) and RSS in bytes."""
    times = os.times()
    rss = 0
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak RSS is the best the standard library offers
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"pid": os.getpid(), "cpu": times.user + times.system, "rss": rss}


class _GroupMember:
    """Joins the ``?group=`` group before accepting and leaves it on disconnect."""

    group: str
    in_layer_group = False

    async def connect(self) -> None:
        try:
            self.group = group_from_scope(self.scope)  # type: ignore[attr-defined]
        except ValueError:
            await self.close()  # type: ignore[attr-defined]
            return
        await self.join(self.group)
        await self.accept()  # type: ignore[attr-defined]

    async def join(self, group: str) -> None:
        """Join ``group`` as a channel-layer member: Channels dispatches each recipient."""
        await self.channel_layer.group_add(group, self.channel_name)  # type: ignore[attr-defined]
        self.in_layer_group = True

    async def disconnect(self, code: int) -> None:
        if self.in_layer_group:
            await self.channel_layer.group_discard(self.group, self.channel_name)  # type: ignore[attr-defined]


class OursConsumer(_GroupMember, OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """A member of the benchmark group that receives :meth:`broadcast` events (v2 or v1).

    It joins with ``join_group()``: the process hub's fast path (docs/fanout.md); membership
    ends with the connection. With ``?hub=0`` it joins with ``channel_layer.group_add`` instead,
    each member dispatched by Channels (the ``ours-group-add`` target of wsbench).
    """

    async def join(self, group: str) -> None:
        if _query(self.scope, "hub") == "0":
            await super().join(group)
        else:
            await self.join_group(group)


class BaselineConsumer(_GroupMember, AsyncJsonWebsocketConsumer):
    """Plain Channels: a ``bench.event`` handler that sends each event with ``send_json``."""

    async def bench_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], "data": message["data"]})


class ControlConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """Starts and reports the ticker; one ticker per control connection, cancelled with it."""

    ticker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        token = os.environ.get("WSBENCH_TOKEN")
        given = _query(self.scope, "token") or ""
        if token and not hmac.compare_digest(token.encode(), given.encode()):
            await self.close(CLOSE_FORBIDDEN)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.ticker is not None:
            self.ticker.cancel()

    async def receive_event(self, event: str, data: Any) -> None:
        """Handle ``start``, ``stop`` and ``server_stats`` from the orchestrator."""
        if event == "server_stats":
            await self.send_event("server_stats", process_stats(), optimize=False)
        elif event == "clock":
            await self.send_event("clock", {"time": time.time()}, optimize=False)
        elif event == "stop" and self.ticker is not None:
            self.ticker.cancel()
        elif event == "floor":
            await self.send_event("floor", await self.measure_floor(data), optimize=False)
        elif event == "start":
            try:
                spec = self.parse_start(data)
            except (TypeError, ValueError, KeyError) as exc:
                await self.send_event("error", {"detail": str(exc)}, optimize=False)
                return
            if self.ticker is not None and not self.ticker.done():
                await self.send_event("error", {"detail": "already running"}, optimize=False)
                return
            self.ticker = asyncio.ensure_future(self.guarded_ticker(spec))

    async def measure_floor(self, data: Any) -> dict[str, Any]:
        """Return the floor of this run's broadcasts on this server's sockets (benchmarks.floor).

        ``data``: ``{"target": T, "count": C, "rounds": R}``; the frame has the mean size of
        the first ``C`` events of the trace as ``T`` sends them.
        """
        spec = data if isinstance(data, dict) else {}
        rounds = max(1, min(int(spec.get("rounds", 20)), 200))
        size = mean_frame_size(str(spec.get("target", "ours")), int(spec.get("count", 100)))
        frame = floor_frame(size)
        sockets = websocket_sockets()  # the clients' sockets, not the control sockets
        spent = []
        for _ in range(rounds):
            spent.append(measure_floor(sockets, frame))
            await asyncio.sleep(0.05)  # let the clients read before the next round
        return summarize_rounds(spent, len(sockets), frame)

    async def guarded_ticker(self, spec: dict[str, Any]) -> None:
        """Run the ticker; tell the orchestrator when it fails instead of leaving it waiting."""
        try:
            await self.run_ticker(**spec)
        except Exception as exc:
            await self.send_event(
                "error", {"detail": f"the ticker failed: {exc!r}"}, optimize=False
            )
            raise

    def parse_start(self, data: Any) -> dict[str, Any]:
        """Return the checked ticker arguments of a ``start`` event; raises ValueError."""
        target = data["target"]
        if target not in ("ours", "ours-group-add", "baseline"):
            raise ValueError("target must be 'ours', 'ours-group-add' or 'baseline'")
        group = str(data.get("group") or "wsbench")
        if not _GROUP_RE.match(group):
            raise ValueError(f"invalid group name {group!r}")
        rate = float(data["rate"])
        count = int(data["count"])
        if not 0 < rate <= _MAX_RATE or not 0 < count <= _MAX_COUNT:
            raise ValueError(f"rate must be in (0, {_MAX_RATE}], count in (0, {_MAX_COUNT}]")
        return {"target": target, "group": group, "rate": rate, "count": count}

    def get_sender(self, target: str, group: str) -> Callable[[str, Any], Awaitable[None]]:
        """Return the broadcast call measured: our ``broadcast`` or plain ``group_send``."""
        if target.startswith("ours"):
            return functools.partial(self.broadcast, group)

        async def group_send(event: str, data: Any) -> None:
            await self.channel_layer.group_send(
                group, {"type": "bench.event", "event": event, "data": data}
            )

        return group_send

    async def run_ticker(self, target: str, group: str, rate: float, count: int) -> None:
        """Broadcast ``count`` events at ``rate``/s on an absolute schedule, then send ``done``.

        A late tick is sent at once (never skipped), and its lateness is reported per event, so
        a saturated server shows as ticker lag instead of disappearing from the figures.
        """
        send = self.get_sender(target, group)
        # The first broadcast's one-off costs (trace, codecs, caches) go to an empty group.
        await self.get_sender(target, f"{group}-warmup")(*bench_event(0))
        loop = asyncio.get_running_loop()
        layer = type(self.channel_layer).__name__
        await self.send_event("started", {**process_stats(), "layer": layer}, optimize=False)
        start = loop.time()
        lags: list[float] = []
        next_progress = start + _PROGRESS_EVERY
        for seq in range(count):
            delay = start + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            lags.append(max(0.0, now - start - seq / rate))
            event, data = bench_event(seq)
            data["bench_t"] = time.time()
            await send(event, data)
            if now >= next_progress:
                next_progress = now + _PROGRESS_EVERY
                await self.send_event("progress", {"sent": seq + 1}, optimize=False)
        elapsed = loop.time() - start
        await self.send_event(
            "done",
            {"sent": count, "elapsed": elapsed, "lags": [round(x, 6) for x in lags]},
            optimize=False,
        )


bench_urlpatterns = [
    path("ws/bench/ours/", OursConsumer.as_asgi()),
    path("ws/bench/baseline/", BaselineConsumer.as_asgi()),
    path("ws/bench/control/", ControlConsumer.as_asgi()),
]

application = ProtocolTypeRouter({"websocket": URLRouter(bench_urlpatterns)})
