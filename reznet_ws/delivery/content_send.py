"""The ``send_json`` half of :class:`~reznet_ws.delivery.connection.Connection`: content frames.

The application's ``send_json(content)`` sends content, not an event. It goes down
:meth:`ContentSendMixin.send_content` (a content frame, for v2 clients that decode them;
:mod:`.msgpack_send` on MessagePack connections) or :meth:`ContentSendMixin.send_text` (its v1
text, as plain Channels sends it): after any queued batch, so order is kept, and counted under
the event name ``(send_json)``. Kept apart from the event pipeline, with which it shares only
the outbox and the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..codec import Codec
from ..codec.content import CONTENT_EVENT, content_frame, encode_content, encode_v1_content
from ..codec.msgpack_frames import MSGPACK
from ..stats import get_recorder
from . import msgpack_send

if TYPE_CHECKING:
    from .group_batch import SharedFlush

__all__ = ["ContentSendMixin"]


class ContentSendMixin:
    """Sends ``send_json`` content as a content frame or as its v1 text."""

    # The connection's state this half reads (set in Connection.__init__).
    encoding: str
    deflate: bool

    if TYPE_CHECKING:  # defined by Connection and its batching half

        def _codec(self) -> Codec: ...

        async def _write(self, payload: str | bytes, push: bool) -> None: ...

        async def flush_batch(
            self, push: bool = False, shared: SharedFlush | None = None
        ) -> None: ...

        @staticmethod
        def _report_fallback(exc: BaseException) -> None: ...

    async def send_content(self, content: Any, v1_text: str | None = None) -> None:
        """Send ``send_json`` content as a content frame (v2 clients that decode them).

        ``v1_text`` is the consumer's own ``encode_json`` text when it overrides it (``content``
        is then that text parsed); None means ``json.dumps(content)``. Content the strict
        encoding refuses (NaN, a ``datetime``, too deep) goes out as that v1 text instead,
        counted as a fallback; what ``json.dumps`` refuses raises, as in plain Channels.
        """
        if self.encoding == MSGPACK:
            await msgpack_send.send_content(self, content, v1_text)  # type: ignore[arg-type]
            return
        codec = self._codec()
        try:
            data_text, original = encode_content(codec, content)
        except (ValueError, TypeError, RecursionError) as exc:
            text = encode_v1_content(content) if v1_text is None else v1_text  # may raise, as v1
            self._report_fallback(exc)
            await self.send_text(text)
            return
        await self.flush_batch()
        payload, compressed = codec.finalize(content_frame(data_text), allow_gzip=not self.deflate)
        await self._write(payload, False)
        if original is None or v1_text is not None:
            original = len(encode_v1_content(content) if v1_text is None else v1_text)
        get_recorder().record_message(CONTENT_EVENT, original, _size(payload), compressed)

    async def send_text(self, text: str) -> None:
        """Send ``send_json``'s v1 text as it is (after any queued batch), counted as content."""
        await self.flush_batch()
        await self._write(text, False)
        size = _size(text)
        get_recorder().record_message(CONTENT_EVENT, size, size, False)


def _size(payload: str | bytes) -> int:
    if isinstance(payload, bytes) or payload.isascii():
        return len(payload)
    return len(payload.encode("utf-8"))
