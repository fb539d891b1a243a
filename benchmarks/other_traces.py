"""Deterministic streams unlike the two target streams, to show the per-message cost elsewhere.

* ``records x20``: one event carrying 20 user records (id, UUID, name, status, ISO timestamp,
  score, ratio, tags), as a presence list or a page of results;
* ``id-keyed``: dicts keyed by fresh UUIDs, whose key tuples never recur (the walk's general path);
* ``small notification``: three keys, one of them an ISO timestamp;
* ``text heavy``: a long text field (150 words) beside two short ones.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

__all__ = ["make_other_traces"]

_WORDS = "alpha beta gamma delta ship deploy latency metric ok fine".split()


def _stamp(i: int) -> str:
    return (
        f"2025-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}.{i * 13 % 1000:03d}Z"
    )


def _record(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": i,
        "user_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "username": f"user{i}",
        "status": rng.choice(["online", "away"]),
        "last_seen": _stamp(i),
        "score": rng.randint(0, 10**6),
        "ratio": round(rng.random(), 3),
        "tags": rng.sample(_WORDS, 3),
    }


def make_other_traces(seed: int = 5) -> dict[str, list[tuple[str, Any]]]:
    """Return the streams by name, the same for the same seed."""
    rng = random.Random(seed)
    return {
        "records x20": [
            ("presence", {"users": [_record(rng, i * 20 + j) for j in range(20)]})
            for i in range(300)
        ],
        "id-keyed": [
            ("scores", {"scores": {str(uuid.UUID(int=rng.getrandbits(128))): i for i in range(8)}})
            for _ in range(2000)
        ],
        "small notification": [
            ("notify", {"type": "ping", "id": i, "created_at": _stamp(i)}) for i in range(2000)
        ],
        "text heavy": [
            (
                "doc",
                {
                    "title": " ".join(rng.choices(_WORDS, k=8)),
                    "body": " ".join(rng.choices(_WORDS, k=150)),
                    "author": "x",
                },
            )
            for _ in range(2000)
        ],
    }
