"""A reznet consumer for the shutdown test (needs Django settings: tests.edges_settings).

Any client event queues a batched ``later`` event (``BATCH_WINDOW`` is long in the settings) and
answers ``queued`` at once, past the batch; the batch goes out only when the consumer flushes.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reznet_ws.consumers import OptimizedConsumerMixin

__all__ = ["EdgesConsumer", "application"]


class EdgesConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        await self.send_event("later", {"for": event}, batch=True)
        await self.send(text_data="queued")


application = EdgesConsumer.as_asgi()
