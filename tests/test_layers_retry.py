"""BatchingChannelLayer retries a batch after a connection error, and receivers skip the copy.

The inner layer here is Channels' in-memory layer behind a wrapper that fails on command, before
or after it delivered: the second case is the one a blind retry would turn into a duplicate.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from reznet_ws.batching import URGENT_KEY
from reznet_ws.layers import BatchingChannelLayer

pytestmark = [pytest.mark.timeout(300)]


class _Flaky:
    """Forwards to ``real``; the calls numbered in ``fail_after`` / ``fail_before`` raise."""

    def __init__(
        self,
        real: Any,
        fail_after: frozenset[int] = frozenset(),
        fail_before: frozenset[int] = frozenset(),
    ) -> None:
        self.real = real
        self.fail_after, self.fail_before = fail_after, fail_before
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def _call(self, method: str, name: str, message: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls in self.fail_before:
            raise RedisConnectionError("refused before executing")
        await getattr(self.real, method)(name, message)
        if self.calls in self.fail_after:
            raise RedisConnectionError("connection lost after executing")

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._call("group_send", group, message)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._call("send", channel, message)


def _layer(inner: Any, **config: Any) -> BatchingChannelLayer:
    layer = BatchingChannelLayer(inner=inner, **config)
    layer.send_retry_delay = 0.0
    return layer


async def _numbers_until(layer: BatchingChannelLayer, channel: str, last: int) -> list[int]:
    """Receive until the message numbered ``last`` (a sentinel sent after everything else)."""
    numbers: list[int] = []
    while not numbers or numbers[-1] != last:
        numbers.append((await layer.receive(channel))["n"])
    return numbers


async def test_a_batch_that_failed_after_it_was_delivered_arrives_once() -> None:
    real = InMemoryChannelLayer(capacity=1000)
    flaky = _Flaky(real, fail_after=frozenset({1, 2, 4, 7}))  # call 2 is the retry of call 1
    sender = _layer(flaky, window=30, max_batch=10)
    other_process = _layer(real)  # receives from the same inner layer, dedups its own channels
    mine, theirs = await sender.new_channel(), await other_process.new_channel()
    await sender.group_add("g", mine)
    await other_process.group_add("g", theirs)
    for n in range(21):  # batches of 10, 10 and a lone message, each failing after delivery
        await sender.group_send("g", {"type": "m", "n": n})
    await sender.drain()
    await sender.send(mine, {"type": "m", "n": 99, URGENT_KEY: True})  # fails after, retried
    await sender.group_send("g", {"type": "m", "n": 100, URGENT_KEY: True})
    assert await _numbers_until(sender, mine, 100) == [*range(21), 99, 100]
    assert await _numbers_until(other_process, theirs, 100) == [*range(21), 100]
    assert sender.stats["retried"] == 4
    assert sender.stats["duplicates"] == 4  # the three copies of group envelopes, and of 99
    assert other_process.stats["duplicates"] == 3
    assert (sender.stats["lost"], sender.stats["delivered"]) == (0, 23)


async def test_a_retried_single_send_to_a_channel_arrives_once() -> None:
    real = InMemoryChannelLayer()
    layer = _layer(_Flaky(real, fail_after=frozenset({1})), window=0)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m", "n": 1, URGENT_KEY: True})
    await layer.send(channel, {"type": "m", "n": 2, URGENT_KEY: True})
    assert await _numbers_until(layer, channel, 2) == [1, 2]
    assert (layer.stats["retried"], layer.stats["duplicates"]) == (1, 1)


async def test_retries_are_bounded_then_the_batch_is_lost_and_counted() -> None:
    real = InMemoryChannelLayer()
    flaky = _Flaky(real, fail_before=frozenset({1, 2, 3, 4, 5}))
    layer = _layer(flaky, window=30, max_batch=3)
    channel = await layer.new_channel()
    for n in range(3):  # one batch: three attempts fail, it is lost
        await layer.send(channel, {"type": "m", "n": n})
    assert (flaky.calls, layer.stats["retried"], layer.stats["lost"]) == (3, 2, 3)
    assert layer.stats["unavailable"] == 1
    for n in range(3, 6):  # the next batch: two more failures, delivered at its third attempt
        await layer.send(channel, {"type": "m", "n": n})
    assert (flaky.calls, layer.stats["retried"], layer.stats["lost"]) == (6, 4, 3)
    assert await _numbers_until(layer, channel, 5) == [3, 4, 5]
    assert layer.stats["delivered"] + layer.stats["lost"] == layer.stats["messages"]


async def test_other_errors_are_not_retried() -> None:
    class Broken(_Flaky):
        async def send(self, channel: str, message: dict[str, Any]) -> None:
            self.calls += 1
            raise ValueError("not a connection error")

    broken = Broken(InMemoryChannelLayer())
    layer = _layer(broken, window=0)
    await layer.send(await layer.new_channel(), {"type": "m", URGENT_KEY: True})
    assert (broken.calls, layer.stats["retried"], layer.stats["error"]) == (1, 0, 1)
