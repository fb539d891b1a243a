"""Process-level fan-out for :meth:`OptimizedConsumerMixin.broadcast`.

Plain Channels delivers a group message to each member through the channel layer: one queue
entry, one dispatch task and one thread hop per recipient. A :class:`Hub` joins each channel-layer
group **once per process** on behalf of its local members, receives each broadcast once, and hands
it to every member's outbox: the event is encoded once per process and protocol version, and per
member there is only the hand-over to its socket.

The hub is state that outlives any one connection, so it heals itself:

- members are held weakly and removed in every exit path of their consumer (no ghosts);
- it re-adds its layer memberships every quarter of the layer's ``group_expiry`` and after every
  layer error, so neither expiry nor a Redis restart (with or without its data) ends delivery;
- a layer fault is retried with bounded backoff, counted, logged rate-limited and reported by
  :func:`layer_problems` (``/health`` reads it) until the layer answers again;
- its channel gets a capacity of ``HUB_CAPACITY`` (see :mod:`.process`), and it is drained
  continuously (delivery never waits on a socket).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..encoding import broadcast_cache
from ..stats import get_recorder
from . import keyed_groups
from .drops import report_drop, report_fault
from .group_batch import GroupFlusher
from .keyed import KeyedStreams
from .prepared import Broadcast
from .process import (
    HUB_CHANNEL_PREFIX,
    capacities,
    ensure_hub_capacity,
    layer_label,
    recent_send_failures,
)
from .streams import GroupStreams

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Hub", "get_hub", "layer_problems"]

logger = logging.getLogger("reznet_ws.delivery.hub")

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Hub]] = (
    weakref.WeakKeyDictionary()
)


def get_hub(layer: Any) -> Hub:
    """Return the hub of ``layer`` for the running event loop, creating it on first use."""
    loop = asyncio.get_running_loop()
    per_loop = _hubs.setdefault(loop, {})
    hub = per_loop.get(id(layer))
    if hub is None or hub.layer is not layer:
        hub = per_loop[id(layer)] = Hub(layer)
    return hub


def layer_problems() -> dict[str, str]:
    """Return ``{layer label: problem}`` for every layer this process cannot use right now.

    Empty when every hub reaches its layer and no broadcast failed in the last
    ``SEND_FAILURE_MEMORY`` seconds. Safe to call from any thread.
    """
    problems = recent_send_failures()
    for per_loop in list(_hubs.values()):
        for hub in list(per_loop.values()):
            if hub.problem is not None:
                problems[hub.label] = hub.problem
    return problems


class Hub:
    """Joins channel-layer groups once per process and fans broadcasts out to local members."""

    #: Backoff bounds (seconds) while the layer cannot be reached.
    min_backoff = 0.05
    max_backoff = 2.0
    #: Each layer call of the hub gives up after this many seconds (a stalled Redis).
    call_timeout = 5.0
    #: (group, sender) pairs whose last broadcast number is remembered.
    max_senders = 10_000

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.label = layer_label(layer)
        self.channel: str | None = None
        self.groups: dict[str, weakref.WeakSet[Connection]] = {}
        #: Why the layer cannot be used right now (None: it can).
        self.problem: str | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._last_seq: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._backoff = self.min_backoff
        #: Last versions of keyed broadcasts to this hub's groups (:mod:`.keyed`).
        self.keyed: KeyedStreams | None = None
        #: Group streams of this hub's groups (:mod:`.streams`).
        self.streams = GroupStreams()
        #: The timer and shared frames of batched broadcasts (:mod:`.group_batch`).
        self.batches = GroupFlusher()

    # ------------------------------------------------------------ membership

    async def join(self, group: str, member: Connection) -> None:
        """Add ``member`` to ``group``; the first local member joins the layer group.

        Never raises for a layer fault: the member is registered locally at once and the hub
        joins the layer group as soon as the layer answers.
        """
        members = self.groups.get(group)
        first = not members
        if members is None:
            members = self.groups[group] = weakref.WeakSet()
        members.add(member)
        self.streams.wait(group)
        await self._start()
        if first and self.problem is None:
            await self._layer_call("group_add", group)

    async def leave(self, group: str, member: Connection) -> None:
        """Remove ``member``; the last local member makes the hub leave the layer group."""
        members = self.groups.get(group)
        if members is None or member not in members:
            return
        members.discard(member)
        self.streams.leave(group, member)
        if not members:
            del self.groups[group]
            self._forget(group)
            self.streams.discard(group)
            if self.keyed is not None:
                self.keyed.clear_group(group)
            await self._layer_call("group_discard", group)
        if not self.groups:
            self._stop()

    def _forget(self, group: str) -> None:
        # Not a member any more: what the group's senders send meanwhile is not missed here.
        for key in [key for key in self._last_seq if key[0] == group]:
            del self._last_seq[key]

    def member_count(self) -> int:
        """Return the number of (group, member) registrations in this process."""
        return sum(len(m) for m in self.groups.values())

    def refresh_interval(self) -> float:
        """Seconds between two re-adds of every membership: a quarter of ``group_expiry``."""
        expiry = getattr(self.layer, "group_expiry", 86400) or 86400
        return min(max(float(expiry) / 4, 0.25), 3600.0)

    # ------------------------------------------------------------- lifecycle

    async def _start(self) -> None:
        if self.channel is None:
            if capacities(self.layer) is not None:
                # A channel of its own name: its own capacity (see ensure_hub_capacity) and,
                # on channels_redis, its own blocking pop beside the consumers' shared one.
                ensure_hub_capacity(self.layer)
                self.channel = f"{HUB_CHANNEL_PREFIX}{uuid.uuid4().hex}"
            else:
                # Pub/sub layers only put channels they created into groups.
                self.channel = await self.layer.new_channel()
        if self._receiver is None or self._receiver.done():
            self._receiver = asyncio.ensure_future(self._receive_loop())
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.ensure_future(self._keep_loop())

    def _stop(self) -> None:
        # A new channel next time: RedisPubSubChannelLayer forgets a channel whose receive was
        # cancelled.
        for task in (self._receiver, self._keeper):
            if task is not None:
                task.cancel()
        self._receiver = self._keeper = None
        self.channel = None
        self._last_seq.clear()
        self.problem = None

    async def _layer_call(self, method: str, group: str) -> bool:
        channel = self.channel
        if channel is None:
            return False
        try:
            await asyncio.wait_for(getattr(self.layer, method)(group, channel), self.call_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(f"{method} failed", exc)
            return False
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        detail = f"{what}: {type(exc).__name__}: {exc}"
        if self.problem is None:
            logger.warning("Channel layer %r unavailable (%s); retrying", self.label, detail)
        self.problem = detail
        report_fault("layer_unavailable", f"layer {self.label!r}: {detail}")
        self._kick.set()

    async def resync(self) -> bool:
        """Re-add every membership to the layer; clear :attr:`problem` when all succeeded."""
        for group in [g for g, members in self.groups.items() if not members]:
            del self.groups[group]  # members that vanished without leaving (garbage collected)
            self._forget(group)
            await self._layer_call("group_discard", group)
        for group in list(self.groups):
            if not await self._layer_call("group_add", group):
                return False
        if self.problem is not None:
            logger.warning("Channel layer %r is reachable again; memberships restored", self.label)
            self.problem = None
        return True

    async def _keep_loop(self) -> None:
        """Refresh memberships before ``group_expiry``; after a fault, retry with backoff."""
        while True:
            wait = self.refresh_interval() if self.problem is None else self._backoff
            try:
                await asyncio.wait_for(self._kick.wait(), wait)
                if self.problem is not None:
                    await asyncio.sleep(self._backoff)  # a fault: do not spin on a dead layer
            except TimeoutError:
                pass
            self._kick.clear()
            if await self.resync():
                self._backoff = self.min_backoff
            else:
                self._backoff = min(self._backoff * 2, self.max_backoff)

    async def _receive_loop(self) -> None:
        assert self.channel is not None
        channel = self.channel
        backoff = self.min_backoff
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("receive failed", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.min_backoff
            await self.fanout(message)

    # ---------------------------------------------------------------- fan-out

    def count_gap(self, group: str, message: Mapping[str, Any], members: int) -> None:
        """Count the broadcasts of ``message``'s sender that never reached this hub.

        Each sender numbers its broadcasts per group (see ``SenderSequences``); a jump in the
        numbers means broadcasts were lost between the layer and this process (a Redis that
        came back empty before this hub re-joined, a channel over capacity): every local member
        missed them, counted as ``broadcast_missed``. Refusals the sender counted are skipped.
        """
        source, seq = message.get("src"), message.get("seq")
        if not isinstance(source, str) or not isinstance(seq, int):
            return  # a message from an older sender, or built by hand
        key = (group, source)
        last = self._last_seq.pop(key, None)
        self._last_seq[key] = seq if last is None else max(last, seq)
        if len(self._last_seq) > self.max_senders:
            self._last_seq.popitem(last=False)
        if last is None or seq <= last + 1:
            return
        skipped = {n for n in message.get("skip") or () if isinstance(n, int)}
        missed = sum(1 for n in range(last + 1, seq) if n not in skipped)
        detail = f"{missed} broadcast(s) to {group!r} never reached this process"
        report_drop("broadcast_missed", missed * members, detail)

    async def fanout(self, message: Mapping[str, Any]) -> None:
        """Deliver one ``reznet.event`` message to every local member of its group."""
        group = message.get("group", "")
        members = self.groups.get(group)
        if not members:
            return
        self.count_gap(group, message, len(members))
        encoded = broadcast_cache().get_or_create(message["id"], message["event"], message["v1"])
        broadcast = Broadcast(encoded, message["optimize"], message["batch"])
        if broadcast.batch:
            broadcast.flusher = self.batches  # one timer for every member's batch
        if message.get("key") is not None:  # a keyed event: its delta is computed once here
            broadcast.keyed = keyed_groups.group_keyed(self, group, message["key"])
        if broadcast.keyed is None:  # keyed events stay out of group streams (docs/deltas.md)
            self.streams.begin(group, members, broadcast)
        tally: Counter[tuple[int, int, bool]] = Counter()
        for member in list(members):
            try:
                # A prepared frame is written without a coroutine switch; the rest is awaited.
                if not member.deliver(broadcast, tally):
                    await member.deliver_async(broadcast, tally)
            except Exception:
                logger.exception("Delivery of a broadcast to one member failed")
        if broadcast.stream is not None:
            broadcast.stream.record(broadcast)
        # One stats call per distinct encoding, not one per recipient.
        recorder = get_recorder()
        for (original, size, compressed), count in tally.items():
            recorder.record_message(encoded.event, original, size, compressed, count, log=False)
        if broadcast.keyed is not None:
            broadcast.keyed.record(encoded.event)
        if broadcast.entities is not None:
            broadcast.entities.record()
