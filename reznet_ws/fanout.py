"""Process-level fan-out for :meth:`OptimizedConsumerMixin.broadcast`.

Plain Channels delivers a group message to each member through the channel layer: one queue
entry, one dispatch task and one thread hop (``aclose_old_connections``) per recipient. A
:class:`Hub` joins each channel-layer group **once per process** on behalf of its local members,
receives each broadcast once, and hands it to every member's delivery path directly: the event is
encoded once per process and protocol version, and per member there is only the write to its
socket (and its batching and stats).

One hub exists per event loop and channel layer (like ``RedisPubSubChannelLayer`` keeps state per
loop). Consumers use it through ``join_group()`` / ``leave_group()`` on the mixin.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .encoding import broadcast_cache
from .stats import get_recorder

if TYPE_CHECKING:
    from .consumers import OptimizedConsumerMixin

__all__ = ["Hub", "find_transport", "get_hub", "transport_backlog"]

logger = logging.getLogger("reznet_ws.fanout")

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


def find_transport(send: Any) -> Any:
    """Return the socket transport behind an ASGI ``send`` callable, or None.

    Looks through send wrappers (Channels' session middleware keeps the wrapped callable in
    ``real_send``) down to daphne's ``partial(server.handle_reply, protocol)``.
    """
    for _ in range(8):
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            return getattr(protocol, "transport", None)
        send = getattr(getattr(send, "__self__", None), "real_send", None)
        if send is None:
            return None
    return None


def transport_backlog(transport: Any) -> int | None:
    """Return the bytes waiting in ``transport``'s write buffer, if it is knowable.

    Works with Twisted transports (daphne); None for anything else.
    """
    buffer = getattr(transport, "dataBuffer", None)
    if buffer is None:
        return None
    return len(buffer) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


class Hub:
    """Joins channel-layer groups once per process and fans broadcasts out to local members."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.members: dict[str, dict[int, OptimizedConsumerMixin]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(self, group: str, member: OptimizedConsumerMixin) -> None:
        """Add ``member`` to ``group``; the first local member joins the layer group."""
        async with self._lock:
            members = self.members.setdefault(group, {})
            first = not members
            members[id(member)] = member
            if self.channel is None:
                # The default prefix: channels_redis reads all of a process's channels with one
                # blocking pop on that prefix.
                self.channel = await self.layer.new_channel()
            if first:
                await self.layer.group_add(group, self.channel)
            if self._task is None or self._task.done():
                self._task = asyncio.ensure_future(self._run())

    async def leave(self, group: str, member: OptimizedConsumerMixin) -> None:
        """Remove ``member``; the last local member makes the hub leave the layer group."""
        async with self._lock:
            members = self.members.get(group)
            if not members or members.pop(id(member), None) is None:
                return
            if members:
                return
            del self.members[group]
            if self.channel is not None:
                await self.layer.group_discard(group, self.channel)
            if not self.members:
                # Stop receiving and forget the channel: RedisPubSubChannelLayer drops a channel
                # whose receive was cancelled, so the next first member makes a new one.
                if self._task is not None:
                    self._task.cancel()
                    self._task = None
                self.channel = None

    def member_count(self) -> int:
        """Return the number of (group, member) registrations in this process."""
        return sum(len(m) for m in self.members.values())

    async def _run(self) -> None:
        assert self.channel is not None
        channel = self.channel
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Layer outage (e.g. Redis down): log, back off, keep the hub alive.
                logger.exception("Hub receive failed; retrying")
                await asyncio.sleep(1.0)
                continue
            await self.fanout(message)

    async def fanout(self, message: Mapping[str, Any]) -> None:
        """Deliver one ``reznet.event`` message to every local member of its group."""
        members = self.members.get(message.get("group", ""))
        if not members:
            return
        encoded = broadcast_cache().get_or_create(message["id"], message["event"], message["v1"])
        optimize, batch = message["optimize"], message["batch"]
        tally: Counter[tuple[int, int, bool]] = Counter()
        for member in list(members.values()):
            try:
                await member.deliver_broadcast(encoded, optimize=optimize, batch=batch, tally=tally)
            except Exception:
                logger.exception("Delivery of a broadcast to one member failed")
        # One stats call per distinct encoding, not one per recipient.
        recorder = get_recorder()
        for (original, size, compressed), count in tally.items():
            recorder.record_message(encoded.event, original, size, compressed, count, log=False)
