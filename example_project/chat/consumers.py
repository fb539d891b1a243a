"""The example chat consumer: messages, a streaming agent, agent status and workflow plans.

Messages typed in the page are stored (``models.ChatMessage``) and broadcast to the channel and
to the activity feed (``activity.ActivityConsumer``), as the REST API's are.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reznet_ws.consumers import OptimizedConsumerMixin

from .models import CHANNELS, ChatMessage
from .publish import ACTIVITY_GROUP, chat_group

AGENT = {"agent_id": "agent-7f3a", "agent_name": "@orchestrator"}
#: The agent's profile in each of its messages: an entity (settings.REZNET_WS["ENTITIES"]), so
#: clients that negotiated deltas get it once, then a reference (docs/deltas.md).
AGENT_PROFILE = {
    **AGENT,
    "role": "orchestrator",
    "model": "gpt-demo",
    "provider": "reznet",
    "description": "Plans workflows and answers questions addressed to @orchestrator.",
}
STREAM_DELAY = 0.02
#: Tasks of a workflow plan the demo agent works through after planning, one update each.
PLAN_STEPS = 6


def now() -> datetime:
    return datetime.now(UTC)


def chat_message(
    channel_id: str, author_type: str, author_name: str, author_id: str, content: str, **extra: Any
) -> dict[str, Any]:
    """Return a chat message in the original's shape."""
    return {
        "message_id": str(uuid.uuid4()),
        "channel_id": channel_id,
        "author_type": author_type,
        "author_name": author_name,
        "author_id": author_id,
        "content": content,
        "created_at": now(),
        "updated_at": None,
        **extra,
    }


def workflow_plan(channel_id: str, goal: str, total: int = 60) -> dict[str, Any]:
    """Return a workflow plan with ``total`` tasks (large enough to be gzip-compressed)."""
    agents = ("@backend", "@frontend", "@qa", "@devops", "@docs")
    tasks = [
        {
            "id": f"task-{i:03d}",
            "name": f"Step {i}: {goal[:40]}",
            "description": f"Carry out part {i} of the plan for '{goal}', then report status.",
            "status": "pending",
            "order": i,
            "depends_on": [f"task-{i - 1:03d}"] if i > 1 else [],
            "agent_name": agents[i % len(agents)],
            "priority": "high" if i % 7 == 0 else "normal",
            "created_at": now(),
        }
        for i in range(1, total + 1)
    ]
    return {
        "workflow_id": str(uuid.uuid4()),
        "channel_id": channel_id,
        "orchestrator": AGENT["agent_name"],
        "description": goal,
        "status": "planned",
        "total_tasks": total,
        "completed_tasks": 0,
        "plan": {"tasks": tasks},
        "created_at": now(),
    }


class ChatConsumer(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    """One chat connection. v2 clients get optimized frames; v1 clients plain JSON."""

    async def connect(self) -> None:
        self.channel_id = "general"
        self.agent_tasks: set[asyncio.Task[None]] = set()
        await self.join_group(self.group_name)
        await self.accept()

    @property
    def group_name(self) -> str:
        return chat_group(self.channel_id)

    async def disconnect(self, code: int) -> None:
        for task in self.agent_tasks:
            task.cancel()
        # join_group() memberships end with the connection; nothing to discard here.

    def user_name(self) -> str:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return f"@{user.get_username()}"
        return "@guest"

    async def receive_event(self, event: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        if event == "join" and data.get("channel_id") in CHANNELS:
            await self.leave_group(self.group_name)
            self.channel_id = data["channel_id"]
            await self.join_group(self.group_name)
            await self.send_event("joined", {"channel_id": self.channel_id})
        elif event == "send_message" and isinstance(data.get("content"), str):
            content = data["content"][:4000]
            stored = await database_sync_to_async(ChatMessage.objects.create)(
                channel_id=self.channel_id,
                author_name=self.user_name(),
                author_id=self.channel_name[-12:],
                content=content,
                source="websocket",
            )
            message = stored.as_event()
            await self.broadcast(self.group_name, "message_new", message)
            await self.broadcast(ACTIVITY_GROUP, "activity_new", stored.as_activity())
            if "@orchestrator" in content or data.get("ask_agent"):
                self._spawn(self.agent_reply(message))
        elif event == "request_plan":
            goal = str(data.get("goal") or "Ship the payload optimization")[:200]
            self._spawn(self.agent_plan(goal))
        elif event == "typing":
            await self.broadcast(
                self.group_name,
                "user_typing",
                {"user_name": self.user_name(), "channel_id": self.channel_id},
                batch=True,
            )
        else:
            # "error" is a control event the server alone sends: this is an application event.
            await self.send_event("unknown_event", {"event": event}, optimize=False)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.agent_tasks.add(task)
        task.add_done_callback(self.agent_tasks.discard)

    async def agent_status(self, status: str) -> None:
        # A keyed event: clients that negotiated deltas get only the status and the time.
        await self.broadcast(
            self.group_name,
            "agent_status",
            {**AGENT, "status": status, "channel_id": self.channel_id, "timestamp": now()},
            key=f"agent:{AGENT['agent_id']}",
        )

    async def agent_reply(self, question: dict[str, Any]) -> None:
        """Stream an answer: status, chunks (batched), the final message, status again."""
        await self.agent_status("thinking")
        words = (
            "Here is how I would approach it: split the payload, abbreviate the "
            "field names, send timestamps as integers, batch the small frames and "
            "compress the large ones."
        ).split()
        message_id = str(uuid.uuid4())
        for index, word in enumerate(words):
            await self.broadcast(
                self.group_name,
                "message_chunk",
                {
                    "message_id": message_id,
                    "channel_id": self.channel_id,
                    "chunk": word + " ",
                    "chunk_index": index,
                    "is_final": False,
                    "streaming": True,
                    "agent_name": AGENT["agent_name"],
                },
                batch=True,
            )
            await asyncio.sleep(STREAM_DELAY)
        final = chat_message(
            self.channel_id,
            "agent",
            AGENT["agent_name"],
            AGENT["agent_id"],
            " ".join(words),
            in_reply_to=question["message_id"],
            metadata={"model": "gpt-demo", "provider": "reznet", "tokens": len(words) * 2},
            agent=AGENT_PROFILE,
        )
        final["message_id"] = message_id
        await self.broadcast(
            self.group_name,
            "message_chunk",
            {
                "message_id": message_id,
                "channel_id": self.channel_id,
                "chunk": "",
                "chunk_index": len(words),
                "is_final": True,
                "streaming": False,
                "agent_name": AGENT["agent_name"],
            },
            batch=True,
        )
        await self.broadcast(self.group_name, "message_new", final)
        await self.agent_status("idle")

    async def agent_plan(self, goal: str) -> None:
        """Plan, then work through the first tasks: each change is a keyed update of the plan."""
        await self.agent_status("planning")
        plan = workflow_plan(self.channel_id, goal)
        key = f"plan:{plan['workflow_id']}"
        await self.broadcast(self.group_name, "workflow_plan", plan, key=key)
        await self.agent_status("working")
        plan["status"] = "running"
        for task in plan["plan"]["tasks"][:PLAN_STEPS]:
            for status in ("in_progress", "done"):
                await asyncio.sleep(STREAM_DELAY)
                task["status"], task["updated_at"] = status, now()
                plan["completed_tasks"] += status == "done"
                await self.broadcast(self.group_name, "workflow_plan", plan, key=key)
        await self.agent_status("idle")
