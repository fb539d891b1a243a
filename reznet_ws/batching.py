"""The channel-layer batch buffer and its flush policy. Pure: no Django, no Channels, no event loop.

:class:`BatchBuffer` holds the messages sent to each target (a group or a channel) until they are
due, and hands them out in order, at most ``max_batch`` at a time. A target is due when it holds
``max_batch`` messages, when its oldest message is ``window`` seconds old, or when it was forced
(an urgent message, an explicit flush). Every message gets a sequence number so that the adapter
can tell a caller when "everything up to my message" has been delivered.

:class:`Leftovers` is the receiving side: the rest of a batch envelope, per channel, waiting to be
returned one message at a time.

:class:`Duplicates` remembers, per receiving channel, the envelope ids already returned, so a
batch that the sender retried after a failure that came too late is not returned twice.

:class:`FailureStreaks` decides when a failure is worth a log line: once when a streak starts.

The wire shape of a batch envelope is :func:`pack` / :func:`unpack` / :func:`envelope_id`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "BATCH_KEY",
    "BATCH_TYPE",
    "ID_KEY",
    "URGENT_KEY",
    "Batch",
    "BatchBuffer",
    "Duplicates",
    "FailureStreaks",
    "Leftovers",
    "envelope_id",
    "pack",
    "unpack",
]

#: ``type`` of a batch envelope. Reserved: an application message must not use it.
BATCH_TYPE = "reznet.batch"
#: Key of the envelope that holds the list of messages, oldest first.
BATCH_KEY = "messages"
#: Key of the envelope's id, ``[stream, seq]``: the same on every attempt to send the envelope.
#: ``stream`` names one sender's ordered sequence of envelopes to one target; ``seq`` grows in it.
ID_KEY = "id"
#: A message with a true value under this key is sent at once, after the messages before it.
URGENT_KEY = "reznet.urgent"

Message = dict[str, Any]
K = TypeVar("K", bound=Hashable)


def pack(messages: list[Message], stream: str, seq: int) -> Message:
    """Return the envelope that carries ``messages`` (one or several) with the id ``[stream, seq]``.

    A lone message is enveloped too: without an id, a retried message could not be recognised.
    """
    return {"type": BATCH_TYPE, BATCH_KEY: messages, ID_KEY: [stream, seq]}


def unpack(message: Mapping[str, Any]) -> list[Message] | None:
    """Return the messages of a batch envelope, or ``None`` when ``message`` is not one."""
    if message.get("type") != BATCH_TYPE:
        return None
    messages = message.get(BATCH_KEY)
    if not isinstance(messages, list):
        return None
    return messages


def envelope_id(message: Mapping[str, Any]) -> tuple[str, int] | None:
    """Return the ``(stream, seq)`` of an envelope, or ``None`` when it has none (an old sender)."""
    value = message.get(ID_KEY)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        stream, seq = value
        if isinstance(stream, str) and isinstance(seq, int) and not isinstance(seq, bool):
            return stream, seq
    return None


@dataclass(frozen=True)
class Batch:
    """Messages taken from one target, in order.

    ``last_seq`` is the sequence number of the last; ``since`` the time the first was added.
    """

    messages: list[Message]
    last_seq: int
    since: float


class _Target:
    __slots__ = ("done", "forced", "queue", "taken")

    def __init__(self) -> None:
        self.queue: deque[tuple[int, float, Message]] = deque()
        self.forced = 0  # messages with seq <= forced are due regardless of age
        self.taken = 0  # seq of the last message handed out by take()
        self.done = 0  # seq of the last message reported back through done()


class BatchBuffer(Generic[K]):
    """Per-target queues with a size / age flush policy and a bound on the total held.

    Times are plain floats from the caller's clock, so the policy is testable without a loop.
    """

    def __init__(self, window: float = 0.05, max_batch: int = 10, max_buffer: int = 10_000) -> None:
        if not isinstance(window, (int, float)) or isinstance(window, bool) or window < 0:
            raise ValueError(f"window must be a number of seconds >= 0, not {window!r}")
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, not {max_batch!r}")
        if not isinstance(max_buffer, int) or isinstance(max_buffer, bool) or max_buffer < 1:
            raise ValueError(f"max_buffer must be an integer >= 1, not {max_buffer!r}")
        self.window = float(window)
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.size = 0  # messages held, all targets together
        self.dropped = 0  # messages refused by add() because the buffer was full
        self._seq = 0
        self._targets: dict[K, _Target] = {}

    def add(self, key: K, message: Message, now: float, *, urgent: bool = False) -> int | None:
        """Queue ``message`` for ``key``; return its sequence number, or ``None`` if refused.

        A full buffer refuses the new message (the ones already queued keep their place, so what is
        delivered stays an in-order prefix). ``urgent`` makes it and everything before it due now.
        """
        if self.size >= self.max_buffer:
            self.dropped += 1
            return None
        self._seq += 1
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = _Target()
        target.queue.append((self._seq, now, message))
        self.size += 1
        if urgent:
            target.forced = self._seq
        return self._seq

    def force(self, key: K) -> int | None:
        """Make everything queued for ``key`` due now.

        Returns the sequence number to wait for (the last one not yet reported through
        :meth:`done`, including a batch in flight), or ``None`` when nothing is pending.
        """
        target = self._targets.get(key)
        if target is None:
            return None
        if target.queue:
            target.forced = target.queue[-1][0]
            return target.forced
        return target.taken if target.taken > target.done else None

    def delay(self, key: K, now: float) -> float | None:
        """Seconds until ``key`` is due (``0.0``: now), or ``None`` when nothing is queued."""
        target = self._targets.get(key)
        if target is None or not target.queue:
            return None
        seq, since, _ = target.queue[0]
        if len(target.queue) >= self.max_batch or seq <= target.forced:
            return 0.0
        return max(0.0, since + self.window - now)

    def take(self, key: K) -> Batch | None:
        """Remove and return the oldest ``max_batch`` messages of ``key`` (``None``: none)."""
        target = self._targets.get(key)
        if target is None or not target.queue:
            return None
        count = min(self.max_batch, len(target.queue))
        items = [target.queue.popleft() for _ in range(count)]
        self.size -= count
        target.taken = items[-1][0]
        return Batch([message for _, _, message in items], target.taken, items[0][1])

    def done(self, key: K, last_seq: int) -> None:
        """Report that the batch ending at ``last_seq`` was handed on (or given up on)."""
        target = self._targets.get(key)
        if target is None:
            return
        target.done = max(target.done, last_seq)
        if not target.queue and target.done >= target.taken:
            del self._targets[key]

    def queued(self, key: K) -> int:
        """Number of messages queued (not yet taken) for ``key``."""
        target = self._targets.get(key)
        return len(target.queue) if target is not None else 0

    def keys(self) -> list[K]:
        """Targets with queued or in-flight messages."""
        return list(self._targets)


class Leftovers:
    """The not-yet-returned messages of batch envelopes, per receiving channel.

    A consumer that stops receiving in the middle of a batch leaves its rest here; :meth:`sweep`,
    called periodically, discards the entries nobody touched since the previous sweep, so dead
    channels do not leak.
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[Message]] = {}
        self._touched: set[str] = set()

    def push(self, channel: str, messages: Iterable[Message]) -> None:
        """Append ``messages`` after those already waiting for ``channel``."""
        queue = self._queues.get(channel)
        if queue is None:
            queue = deque(messages)
            if not queue:
                return
            self._queues[channel] = queue
        else:
            queue.extend(messages)
        self._touched.add(channel)

    def pop(self, channel: str) -> Message | None:
        """Return the next message waiting for ``channel``, or ``None``."""
        queue = self._queues.get(channel)
        if queue is None:
            return None
        message = queue.popleft()
        if queue:
            self._touched.add(channel)
        else:
            del self._queues[channel]
        return message

    def __contains__(self, channel: object) -> bool:
        return channel in self._queues

    def sweep(self) -> int:
        """Discard the entries untouched since the previous sweep; return how many messages."""
        stale = [channel for channel in list(self._queues) if channel not in self._touched]
        self._touched.clear()
        return sum(len(self._queues.pop(channel, ())) for channel in stale)

    def __len__(self) -> int:
        return sum(len(queue) for queue in list(self._queues.values()))


class Duplicates:
    """Per receiving channel, the highest ``seq`` returned from each sender's stream.

    A sender hands the envelopes of one stream on one after the other (the next only once the
    previous one succeeded or was given up), so an envelope whose ``seq`` is not above the highest
    one seen in its stream is a copy of one already returned (or one the sender counted lost).
    Bounded: at most ``max_streams`` streams per channel (the least recently used is forgotten),
    and :meth:`sweep` forgets the channels nobody touched since the previous sweep.
    """

    def __init__(self, max_streams: int = 1000) -> None:
        self.max_streams = max_streams
        self._channels: dict[str, OrderedDict[str, int]] = {}
        self._touched: set[str] = set()

    def seen(self, channel: str, stream: str, seq: int) -> bool:
        """Return True if ``(stream, seq)`` was already seen on ``channel``; else remember it."""
        streams = self._channels.get(channel)
        if streams is None:
            streams = self._channels[channel] = OrderedDict()
        self._touched.add(channel)
        last = streams.get(stream)
        if last is not None and seq <= last:
            return True
        streams[stream] = seq
        streams.move_to_end(stream)
        if len(streams) > self.max_streams:
            streams.popitem(last=False)
        return False

    def sweep(self) -> None:
        """Forget the channels untouched since the previous sweep."""
        stale = [channel for channel in list(self._channels) if channel not in self._touched]
        for channel in stale:
            self._channels.pop(channel, None)
        self._touched.clear()

    def __len__(self) -> int:
        return sum(len(streams) for streams in list(self._channels.values()))


class FailureStreaks:
    """Failure kinds in a current streak (no success since), so each streak is logged once.

    A kind is logged when its streak starts, and not more often than ``log_interval`` seconds, so
    a target that alternates between failing and working does not flood the log. Not thread-safe:
    the caller holds its own lock.
    """

    def __init__(self, log_interval: float = 60.0) -> None:
        self.log_interval = log_interval
        self._streaks: dict[str, int] = {}
        self._logged: set[str] = set()
        self._logged_at: dict[str, float] = {}

    def failed(self, kind: str, now: float) -> bool:
        """Record one failure of ``kind``; return True when it should be logged."""
        starts = kind not in self._streaks
        self._streaks[kind] = self._streaks.get(kind, 0) + 1
        last = self._logged_at.get(kind)
        if not starts or (last is not None and now - last < self.log_interval):
            return False
        self._logged_at[kind] = now
        self._logged.add(kind)
        return True

    def succeeded(self, kinds: Iterable[str]) -> dict[str, int]:
        """End the streaks of ``kinds``; return those that were logged, with their failures."""
        ended = {kind: self._streaks.pop(kind) for kind in kinds if kind in self._streaks}
        logged = {kind: count for kind, count in ended.items() if kind in self._logged}
        self._logged.difference_update(ended)
        return logged

    def __bool__(self) -> bool:
        return bool(self._streaks)
