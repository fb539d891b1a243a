"""zstd group streams (docs/protocol.md, 3.3): the same frames as deflate streams, another codec.

A zstd stream frame is ``0xA7 stream epoch seq DATA`` (an epoch start) or ``0xA6 stream seq DATA``.
The ``DATA`` of an epoch's frames, concatenated, is one zstd frame (RFC 8878) that never ends:
each frame's ``DATA`` is what the epoch's compressor outputs for the frame's text followed by
``\\n``, ended with a block flush (``ZSTD_e_flush``), so it decodes to exactly that line.
The window is at most :data:`MAX_WINDOW_LOG` (8 MiB), which every receiver must accept.

Needs the ``zstandard`` package (``pip install 'reznet-ws[zstd]'``), imported on first use.
Pure: no Django or Channels imports.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .errors import ProtocolError
from .stream import ZSTD, ZSTD_EPOCH_START, ZSTD_IN_EPOCH, StreamEncoder

__all__ = [
    "MAX_WINDOW_LOG",
    "ZstdInflater",
    "ZstdStreamEncoder",
    "require_zstd",
    "zstd_available",
    "zstd_memory",
]

#: The largest window a zstd stream may use (2**23 bytes): receivers refuse larger ones.
MAX_WINDOW_LOG = 23
_INSTALL = "zstd streams need the zstandard package: pip install 'reznet-ws[zstd]'"
_module: ModuleType | None = None


def require_zstd() -> ModuleType:
    """Return the ``zstandard`` module; ImportError naming the extra when it is missing."""
    global _module
    if _module is None:
        try:
            _module = importlib.import_module("zstandard")
        except ImportError as exc:
            raise ImportError(_INSTALL) from exc
    return _module


def zstd_available() -> bool:
    """Return True when ``zstandard`` can be imported."""
    try:
        require_zstd()
    except ImportError:
        return False
    return True


def _parameters(level: int, window_log: int) -> Any:
    zstd = require_zstd()
    window_log = max(10, min(window_log, MAX_WINDOW_LOG))
    return zstd.ZstdCompressionParameters.from_level(level, window_log=window_log)


def zstd_memory(level: int, window_log: int) -> int:
    """Return zstd's estimate of one stream compressor's memory, in bytes."""
    return int(_parameters(level, window_log).estimated_compression_context_size())


class ZstdStreamEncoder(StreamEncoder):
    """The zstd compressor of one group stream (:class:`StreamEncoder`'s frames and rules)."""

    codec = ZSTD
    kinds = (ZSTD_EPOCH_START, ZSTD_IN_EPOCH)

    def __init__(self, stream: int, level: int = 6, window_log: int = 22) -> None:
        super().__init__(stream, level=level)
        self.window_log = max(10, min(window_log, MAX_WINDOW_LOG))
        self._params = _parameters(level, self.window_log)
        self._flush = require_zstd().COMPRESSOBJ_FLUSH_BLOCK

    def _new_packer(self) -> Any:
        return require_zstd().ZstdCompressor(compression_params=self._params).compressobj()

    def _compress(self, data: bytes) -> bytes:
        out: bytes = self._packer.compress(data) + self._packer.flush(self._flush)
        return out

    def memory(self) -> int:
        """Bytes of zstd state held now (zstd's estimate; 0 while released)."""
        if self._packer is None:
            return 0
        return int(self._params.estimated_compression_context_size())


#: Compressed bytes given to the decoder at a time, the output counted after each: a block of
#: 3 bytes may decode to 128 KiB, so a frame stops at most about 11 MiB past the cap.
_SLICE = 256


class ZstdInflater:
    """One epoch's zstd decoder: ``inflate`` returns a frame's output, at most ``max_size + 1``."""

    def __init__(self, max_window_log: int = MAX_WINDOW_LOG) -> None:
        zstd = require_zstd()
        self._errors = zstd.ZstdError
        self._decoder = zstd.ZstdDecompressor(max_window_size=1 << max_window_log).decompressobj()

    def inflate(self, data: bytes, max_size: int) -> bytes:
        """Return the output of one frame's ``data``; ProtocolError when it is bad or too big."""
        chunks: list[bytes] = []
        total = 0
        view = memoryview(data)
        try:
            for start in range(0, len(data), _SLICE):
                chunk = self._decoder.decompress(view[start : start + _SLICE])
                total += len(chunk)
                if total > max_size + 1:
                    raise ProtocolError("too_large", f"a stream message exceeds {max_size} bytes")
                chunks.append(chunk)
        except self._errors as exc:
            raise ProtocolError("decompression_failed", str(exc)) from None
        return b"".join(chunks)
