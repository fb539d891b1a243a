"""A representative, deterministic trace of the example project's events.

Mix (by count): chat messages 45 %, streaming chunks 35 %, agent status 15 %, typing 3 %,
workflow plans of 10 KB+ 2 %. Shapes follow example_project/chat/consumers.py.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["make_trace"]

_WORDS = (
    "the deploy finished and the metrics look healthy, latency is down, "
    "let us ship the payload optimization to staging first then production "
    "après validation 🚀 with the new batching window"
).split()
_AGENTS = ("@orchestrator", "@backend", "@frontend", "@qa", "@devops")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _message(rng: random.Random, t: datetime) -> dict[str, Any]:
    agent = rng.random() < 0.4
    data: dict[str, Any] = {
        "message_id": _uuid(rng),
        "channel_id": rng.choice(("general", "engineering", "agents")),
        "author_type": "agent" if agent else "user",
        "author_name": rng.choice(_AGENTS) if agent else f"@user{rng.randrange(100)}",
        "author_id": _uuid(rng),
        "content": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(6, 40))),
        "created_at": _iso(t),
        "updated_at": None,
    }
    if agent:
        data["metadata"] = {
            "model": "gpt-demo",
            "provider": "reznet",
            "tokens": rng.randrange(20, 900),
            "in_reply_to": _uuid(rng),
        }
    return data


def _chunk(rng: random.Random, message_id: str, index: int) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "channel_id": "agents",
        "chunk": rng.choice(_WORDS) + " ",
        "chunk_index": index,
        "is_final": False,
        "streaming": True,
        "agent_name": "@orchestrator",
    }


def _status(rng: random.Random, t: datetime) -> dict[str, Any]:
    return {
        "agent_id": _uuid(rng),
        "agent_name": rng.choice(_AGENTS),
        "status": rng.choice(("thinking", "idle", "planning", "executing")),
        "channel_id": "agents",
        "timestamp": _iso(t),
    }


def _plan(rng: random.Random, t: datetime, tasks: int = 60) -> dict[str, Any]:
    return {
        "workflow_id": _uuid(rng),
        "channel_id": "agents",
        "orchestrator": "@orchestrator",
        "description": "Roll out the payload optimization",
        "status": "planned",
        "total_tasks": tasks,
        "created_at": _iso(t),
        "plan": {
            "tasks": [
                {
                    "id": f"task-{i:03d}",
                    "name": f"Step {i}: roll out part {i}",
                    "description": f"Carry out part {i} of the plan, then report status.",
                    "status": "pending",
                    "order": i,
                    "depends_on": [f"task-{i - 1:03d}"] if i > 1 else [],
                    "agent_name": _AGENTS[i % len(_AGENTS)],
                    "priority": "normal",
                    "created_at": _iso(t),
                }
                for i in range(1, tasks + 1)
            ]
        },
    }


def make_trace(n: int = 1000, seed: int = 47) -> list[tuple[str, dict[str, Any]]]:
    """Return ``n`` (event, data) pairs, the same for the same seed."""
    rng = random.Random(seed)
    t = datetime(2025, 10, 25, 12, 0, tzinfo=UTC)
    trace: list[tuple[str, dict[str, Any]]] = []
    stream_id, stream_index = _uuid(rng), 0
    while len(trace) < n:
        t += timedelta(milliseconds=rng.randrange(1, 900))
        r = rng.random()
        if r < 0.45:
            trace.append(("message_new", _message(rng, t)))
        elif r < 0.80:
            trace.append(("message_chunk", _chunk(rng, stream_id, stream_index)))
            stream_index += 1
            if stream_index > 30:
                stream_id, stream_index = _uuid(rng), 0
        elif r < 0.95:
            trace.append(("agent_status", _status(rng, t)))
        elif r < 0.98:
            trace.append(
                (
                    "user_typing",
                    {"user_name": f"@user{rng.randrange(100)}", "channel_id": "general"},
                )
            )
        else:
            trace.append(("workflow_plan", _plan(rng, t)))
    return trace
