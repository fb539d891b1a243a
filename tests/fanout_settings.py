"""The example project with tight fan-out limits, for the slow-client test."""

from __future__ import annotations

from example_project.settings import *  # noqa: F403

REZNET_WS = {
    "EXTRA_FIELDS": {"channel_name": "chnm", "chunk_index": "cix"},
    "FANOUT_MAX_BACKLOG": 65536,
    "FANOUT_MAX_DROPS": 5,
}
