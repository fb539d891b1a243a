"""The consumer the test suite's server serves at ``/ws/room/`` (see tests/asgi.py).

A small room with the outbound shapes a real application sends: a chat message with a
timestamp, a stream of small chunks broadcast with ``batch=True`` between two status events,
and a plan large enough to be gzip-compressed. Every broadcast reaches all members of the room.

Events a client sends:

- ``join`` ``{"room": name}``: move to another room; answered with ``joined``;
- ``send_message`` ``{"content": str, "stream": bool}``: broadcast ``message_new``; with
  ``stream``, then ``agent_status`` (thinking), the chunks, the answer and ``agent_status`` (idle);
- ``request_plan`` ``{"goal": str}``: broadcast ``agent_status``, ``workflow_plan``,
  ``agent_status``;
- anything else: an ``error`` to the sender, ``unknown_event``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reznet_ws.consumers import OptimizedConsumerMixin

__all__ = ["ANSWER", "RoomConsumer", "workflow_plan"]

ANSWER = (
    "split the payload, abbreviate the field names, send timestamps as integers, batch the "
    "small frames and compress the large ones"
).split()


def workflow_plan(goal: str, total: int = 60) -> dict[str, Any]:
    """Return a plan of ``total`` tasks, well above the compression threshold."""
    tasks = [
        {
            "id": f"task-{i:03d}",
            "name": f"Step {i}: {goal[:40]}",
            "description": f"Carry out part {i} of the plan for '{goal}', then report status.",
            "status": "pending",
            "order": i,
            "depends_on": [f"task-{i - 1:03d}"] if i > 1 else [],
            "priority": "high" if i % 7 == 0 else "normal",
            "created_at": datetime.now(UTC),
        }
        for i in range(1, total + 1)
    ]
    return {"description": goal, "total_tasks": total, "plan": {"tasks": tasks}}


class RoomConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """One member of a room (``general`` until it joins another)."""

    async def connect(self) -> None:
        self.room = "general"
        await self.join_group(self.group_name)
        await self.accept()

    @property
    def group_name(self) -> str:
        return f"room.{self.room}"

    async def receive_event(self, event: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        if event == "join" and isinstance(data.get("room"), str):
            await self.leave_group(self.group_name)
            self.room = data["room"]
            await self.join_group(self.group_name)
            await self.send_event("joined", {"room": self.room})
        elif event == "send_message" and isinstance(data.get("content"), str):
            await self.say("message_new", data["content"])
            if data.get("stream"):
                await self.stream_answer()
        elif event == "request_plan":
            await self.status("planning")
            plan = workflow_plan(str(data.get("goal") or "ship it"))
            await self.broadcast(self.group_name, "workflow_plan", plan)
            await self.status("idle")
        else:
            await self.send_event("error", {"code": "unknown_event", "detail": event})

    async def say(self, event: str, content: str) -> None:
        message = {"channel_id": self.room, "content": content, "created_at": datetime.now(UTC)}
        await self.broadcast(self.group_name, event, message)

    async def status(self, status: str) -> None:
        await self.broadcast(self.group_name, "agent_status", {"status": status})

    async def stream_answer(self) -> None:
        """Status, the answer's chunks (batched), the whole answer, status again."""
        await self.status("thinking")
        for index, word in enumerate(ANSWER):
            chunk = {"chunk": word + " ", "sequence": index, "is_final": False, "streaming": True}
            await self.broadcast(self.group_name, "message_chunk", chunk, batch=True)
        await self.say("message_new", " ".join(ANSWER))
        await self.status("idle")
