"""Broadcasting from anywhere: views, tasks, signals, management commands, sync consumers.

:func:`broadcast` is what ``OptimizedConsumerMixin.broadcast()`` calls too: the event is encoded
once in the sending process and handed to the channel layer once; the hubs of every receiving
process deliver it to their local members, each in its own protocol version, and record it in
the stats once per encoding.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from ..codec.delta import check_key
from ..codec.errors import check_event_name
from ..encoding import EncodedEvent, broadcast_cache, codec_for, default_field_map
from .drops import report_drop
from .process import ensure_hub_capacity, note_send_failure, note_send_success

__all__ = ["BROADCAST_TYPE", "broadcast", "broadcast_sync"]

#: Channel-layer message type of a broadcast (served by the hub, or ``reznet_event`` handlers).
BROADCAST_TYPE = "reznet.event"


class SenderSequences:
    """Numbers each process's broadcasts per group, so receiving hubs can count gaps.

    A broadcast carries ``src`` (this process), ``seq`` (1, 2, ... per group) and ``skip``: the
    numbers among this group's last :attr:`window` broadcasts that the layer refused (already
    counted here as ``broadcast_failed``), so a receiver that sees the gap does not count them
    again, even when the broadcast right after a refusal was lost too.
    """

    #: Groups remembered per process (least recently used ones are forgotten).
    max_groups = 10_000
    #: Refusals are announced in the broadcasts that follow them for this many numbers.
    window = 1_000

    def __init__(self) -> None:
        self.source = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._groups: OrderedDict[str, tuple[int, list[int]]] = OrderedDict()

    def next(self, group: str) -> tuple[int, list[int]]:
        """Return the next number of ``group`` and the recent refused numbers to announce."""
        with self._lock:
            last, refused = self._groups.pop(group, (0, []))
            seq = last + 1
            refused = [n for n in refused if n > seq - self.window]
            self._groups[group] = (seq, refused)
            if len(self._groups) > self.max_groups:
                self._groups.popitem(last=False)
            return seq, list(refused)

    def refused(self, group: str, seq: int) -> None:
        """Called when the layer refused broadcast ``seq`` of ``group``."""
        with self._lock:
            state = self._groups.get(group)
            if state is not None:
                state[1].append(seq)


sequences = SenderSequences()


async def broadcast(
    group: str,
    event: str,
    data: Any = None,
    *,
    batch: bool = False,
    optimize: bool = True,
    layer: str | Any = "default",
    key: str | None = None,
) -> bool:
    """Send ``event`` to every member of ``group`` in every process; return False if refused.

    ``layer`` is a ``CHANNEL_LAYERS`` alias or a channel layer. Returns False, after counting
    ``error:broadcast_failed``, when the layer could not take the event (Redis unreachable).
    Raises ``ReservedEventError`` for event names the protocol reserves. ``key`` makes it a
    keyed event: members that negotiated deltas get what changed since the key's last version
    they hold (each process numbers its own versions; see docs/deltas.md).
    """
    check_event_name(event)
    if key is not None:
        check_key(key)
    channel_layer = get_channel_layer(layer) if isinstance(layer, str) else layer
    if channel_layer is None:
        raise RuntimeError(f"no channel layer {layer!r} is configured (CHANNEL_LAYERS)")
    encoded = EncodedEvent(event, data)
    message_id = uuid.uuid4().hex
    v1_text = encoded.v1_text(codec_for(default_field_map()))
    if key is None:
        broadcast_cache().put(message_id, encoded)
    # else: a keyed object is typically changed and sent again while this broadcast is on its
    # way; local members then decode the snapshot in the v1 text, as other processes do.
    ensure_hub_capacity(channel_layer)
    seq, skip = sequences.next(group)
    message = {
        "type": BROADCAST_TYPE,
        "group": group,
        "id": message_id,
        "event": event,
        "v1": v1_text,
        "optimize": optimize,
        "batch": batch,
        "src": sequences.source,
        "seq": seq,
        "skip": skip,
    }
    if key is not None:
        message["key"] = key
    try:
        await channel_layer.group_send(group, message)
    except Exception as exc:
        sequences.refused(group, seq)
        note_send_failure(channel_layer, exc)
        report_drop("broadcast_failed", 1, f"{event!r} to {group!r}: {exc!r}")
        return False
    note_send_success(channel_layer)
    return True


def broadcast_sync(
    group: str,
    event: str,
    data: Any = None,
    *,
    batch: bool = False,
    optimize: bool = True,
    layer: str | Any = "default",
    key: str | None = None,
) -> bool:
    """:func:`broadcast` for sync code (views, Celery/RQ tasks, signals, sync consumers).

    Safe to call wherever ``async_to_sync(channel_layer.group_send)`` is: not from inside a
    running event loop's thread (use ``await broadcast(...)`` there).
    """
    return bool(
        async_to_sync(broadcast)(
            group, event, data, batch=batch, optimize=optimize, layer=layer, key=key
        )
    )
