"""gzip for binary frames: deterministic compression and a capped, bomb-proof inflate."""

from __future__ import annotations

import zlib

from .errors import ProtocolError

__all__ = ["GZIP_MAGIC", "deflate_message", "gzip_compress", "gzip_inflate"]

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # 16 + 15: a gzip member (RFC 1952), 32 KiB window


def gzip_compress(data: bytes, level: int = 6) -> bytes:
    """Return ``data`` as one gzip member (mtime 0, so equal input gives equal bytes)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return packer.compress(data) + packer.flush()


def deflate_message(data: bytes, level: int, window_bits: int, mem_level: int) -> bytes:
    """Return ``data`` compressed as one permessage-deflate message without context takeover.

    RFC 7692, 7.2.1: raw deflate from a fresh compressor, ended with a sync flush whose trailing
    ``00 00 ff ff`` is removed. Any client that accepted ``server_no_context_takeover`` and a
    server window of at least ``window_bits`` inflates it, whatever it inflated before.
    """
    packer = zlib.compressobj(level, zlib.DEFLATED, -window_bits, mem_level)
    return (packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH))[:-4]


def gzip_inflate(data: bytes, max_size: int) -> bytes:
    """Return the content of the single gzip member ``data``, at most ``max_size`` bytes of it.

    Never allocates more than ``max_size + 1`` bytes of output. Raises :class:`ProtocolError`:
    ``unexpected_binary`` when ``data`` is not a gzip member, ``too_large`` when the content
    exceeds ``max_size``, ``decompression_failed`` when it is corrupt, truncated or followed by
    more data.
    """
    if not data.startswith(GZIP_MAGIC):
        raise ProtocolError("unexpected_binary", "a binary frame must be a gzip member")
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        content = inflater.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise ProtocolError("decompression_failed", str(exc)) from None
    if len(content) > max_size:
        raise ProtocolError("too_large", f"the inflated frame exceeds {max_size} bytes")
    if not inflater.eof:
        raise ProtocolError("decompression_failed", "the gzip member is truncated")
    if inflater.unused_data:
        raise ProtocolError("decompression_failed", "data after the end of the gzip member")
    return content
