"""The example project's settings, with a batch window no streamed answer can outrun: the browser
tests' shared chat server (``chat_server`` in tests/test_browser.py).

The demo agent streams a word every 20 ms into batches of ``BATCH_WINDOW`` (50 ms by default), so
on a busy machine each window can close on a single chunk and no batch frame cross the wire.
With a window far longer than any answer, batched events leave by count (``BATCH_SIZE``) or just
before the connection's next unbatched event (the agent's final ``message_new``): the answer's
chunks always arrive in batch frames, in the same order, and no wait of a test grows.
"""

from __future__ import annotations

from example_project.settings import *  # noqa: F403
from example_project.settings import REZNET_WS as EXAMPLE_REZNET_WS

# The example's REZNET_WS holds dicts only: mypy typed it so.
REZNET_WS = {**EXAMPLE_REZNET_WS, "BATCH_WINDOW": 60.0}  # type: ignore[dict-item]
