"""permessage-deflate options and the server's answer to a client's offers (RFC 7692).

No Twisted here: the system checks import this module in every ``manage.py`` command.

The server answers the offers of a handshake once, in :func:`negotiate`, before daphne builds the
ASGI scope; the protocol hands the same answer to autobahn later, so the scope flag and the
``Sec-WebSocket-Extensions`` response always agree.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autobahn.websocket.compress import (
    PerMessageDeflate,
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
)

from reznet_ws.conf import get_config

__all__ = [
    "EXTENSION_NAME",
    "SCOPE_KEY",
    "SETTING_NAMES",
    "DeflateOptions",
    "InvalidDeflateOptions",
    "LevelledPerMessageDeflate",
    "Negotiated",
    "load_options",
    "negotiate",
]

EXTENSION_NAME = "permessage-deflate"
#: Key of ``scope["extensions"]`` set on connections that negotiate the extension.
SCOPE_KEY = "reznet.permessage_deflate"

#: DeflateOptions field -> REZNET_WS key.
SETTING_NAMES: dict[str, str] = {
    "enabled": "PERMESSAGE_DEFLATE",
    "level": "DEFLATE_LEVEL",
    "server_max_window_bits": "DEFLATE_SERVER_MAX_WINDOW_BITS",
    "client_max_window_bits": "DEFLATE_CLIENT_MAX_WINDOW_BITS",
    "mem_level": "DEFLATE_MEM_LEVEL",
    "server_no_context_takeover": "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER",
    "client_no_context_takeover": "DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER",
    "exclude_paths": "DEFLATE_EXCLUDE_PATHS",
}

_INT_RANGES: dict[str, range] = {
    "level": range(0, 10),
    "server_max_window_bits": range(9, 16),
    "client_max_window_bits": range(9, 16),
    "mem_level": range(1, 10),
}
_BOOLS = ("enabled", "server_no_context_takeover", "client_no_context_takeover")
_MAX_WINDOW_BITS = 15


@dataclasses.dataclass(frozen=True)
class DeflateOptions:
    """The server's permessage-deflate configuration (one field per ``REZNET_WS`` key)."""

    enabled: bool
    level: int
    server_max_window_bits: int
    client_max_window_bits: int
    mem_level: int
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    exclude_paths: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> DeflateOptions:
        """Build from a ``REZNET_WS``-shaped mapping; ``overrides`` that are not None win."""
        values: dict[str, Any] = {field: config.get(key) for field, key in SETTING_NAMES.items()}
        values["exclude_paths"] = _as_tuple(values["exclude_paths"] or ())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def problems(self) -> list[tuple[str, str]]:
        """Return ``(field, message)`` for every invalid value; empty when all are valid."""
        found: list[tuple[str, str]] = []
        for field, allowed in _INT_RANGES.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                found.append(
                    (field, f"must be an integer from {allowed[0]} to {allowed[-1]}, not {value!r}")
                )
        for field in _BOOLS:
            if not isinstance(getattr(self, field), bool):
                found.append((field, f"must be True or False, not {getattr(self, field)!r}"))
        paths = self.exclude_paths
        if not isinstance(paths, tuple) or not all(
            isinstance(p, str) and p.startswith("/") for p in paths
        ):
            found.append(
                (
                    "exclude_paths",
                    f"must be a list of path prefixes starting with '/', not {paths!r}",
                )
            )
        return found

    def excludes(self, path: str) -> bool:
        """Return True when connections to ``path`` (the ASGI scope path) must not compress."""
        return bool(self.exclude_paths) and path.startswith(self.exclude_paths)

    def describe(self) -> str:
        """One line for the start-up log."""
        if not self.enabled:
            return "off"
        takeover = {
            (False, False): "context takeover",
            (True, False): "no server context takeover",
            (False, True): "no client context takeover",
            (True, True): "no context takeover",
        }[(self.server_no_context_takeover, self.client_no_context_takeover)]
        text = (
            f"on (level {self.level}, server window {self.server_max_window_bits} bits, "
            f"client window {self.client_max_window_bits} bits, "
            f"mem level {self.mem_level}, {takeover}"
        )
        if self.exclude_paths:
            text += f", off under {', '.join(self.exclude_paths)}"
        return text + ")"


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


class InvalidDeflateOptions(ValueError):
    """Raised by :func:`load_options` when a setting or command-line value is invalid."""


def load_options(**overrides: Any) -> DeflateOptions:
    """Return the options from the settings with command-line ``overrides``.

    The settings are :func:`reznet_ws.conf.get_config`'s (the defaults alone when Django is not
    configured). Raises InvalidDeflateOptions naming every invalid value.
    """
    options = DeflateOptions.from_config(get_config(), **overrides)
    problems = options.problems()
    if problems:
        raise InvalidDeflateOptions("; ".join(f"{SETTING_NAMES[f]} {msg}" for f, msg in problems))
    return options


@dataclasses.dataclass(frozen=True)
class Negotiated:
    """The server's answer to one handshake: autobahn's accept and the parameters in effect."""

    accept: PerMessageDeflateOfferAccept
    params: Mapping[str, Any]


def negotiate(
    options: DeflateOptions,
    extensions: Iterable[tuple[str, Mapping[str, Sequence[Any]]]],
    max_message_size: int,
) -> Negotiated | None:
    """Return the answer to the first acceptable permessage-deflate offer, or None.

    ``extensions`` are the client's offers as autobahn parses them (``request.extensions``:
    ``(name, {param: [values]})`` in the client's order of preference). ``max_message_size`` is
    daphne's limit on incoming messages (0: none); it also caps the inflated size.
    """
    if not options.enabled:
        return None
    for name, params in extensions:
        if name != EXTENSION_NAME:
            continue
        try:
            offer = PerMessageDeflateOffer.parse(params)
        except Exception:
            return None  # autobahn fails the whole handshake on a malformed offer
        answer = _answer(options, offer, params, max_message_size)
        if answer is not None:
            return answer
    return None


def _answer(
    options: DeflateOptions,
    offer: PerMessageDeflateOffer,
    params: Mapping[str, Sequence[Any]],
    max_message_size: int,
) -> Negotiated | None:
    # The client may cap our window (server_max_window_bits=N) and ask us to reset the context;
    # both only shrink what we use, so we honour them. A smaller window than advertised is valid.
    server_bits = options.server_max_window_bits
    if offer.request_max_window_bits:
        server_bits = min(server_bits, offer.request_max_window_bits)
    server_reset = options.server_no_context_takeover or offer.request_no_context_takeover
    # We may only bound the client's window when it offered client_max_window_bits, and never
    # above the value it offered (RFC 7692, 7.1.2.2); autobahn's parser drops that value.
    client_limit = _client_window_hint(params)
    client_bits = 0
    if offer.accept_max_window_bits:
        client_bits = min(options.client_max_window_bits, client_limit)
    try:
        accept = PerMessageDeflateOfferAccept(
            offer,
            request_no_context_takeover=options.client_no_context_takeover,
            request_max_window_bits=client_bits,
            no_context_takeover=server_reset,
            window_bits=server_bits,
            mem_level=options.mem_level,
            max_message_size=max_message_size or None,
        )
    except Exception:
        return None
    params_in_effect = {
        "level": options.level,
        "mem_level": options.mem_level,
        "server_max_window_bits": server_bits,
        "client_max_window_bits": client_bits or client_limit,
        "server_no_context_takeover": server_reset,
        "client_no_context_takeover": options.client_no_context_takeover,
    }
    return Negotiated(accept=accept, params=params_in_effect)


def _client_window_hint(params: Mapping[str, Sequence[Any]]) -> int:
    values = params.get("client_max_window_bits") or [True]
    value = values[0]
    return _MAX_WINDOW_BITS if value is True else int(value)


class LevelledPerMessageDeflate(PerMessageDeflate):
    """autobahn's server-side permessage-deflate with a configurable compression level.

    autobahn always compresses at zlib's default level; everything else (windows, memory level,
    context takeover, the bounded inflation) is autobahn's. The compressing side is this class's
    own (through the three methods autobahn calls per message), so it touches none of autobahn's
    private state; :mod:`reznet_ws.server.autobahn_compat` installs it on a connection.
    """

    level: int = zlib.Z_DEFAULT_COMPRESSION
    _deflater: Any = None

    @classmethod
    def from_accept(
        cls, accept: PerMessageDeflateOfferAccept, level: int
    ) -> LevelledPerMessageDeflate:
        """Return the server-side processor for ``accept``, compressing at ``level``."""
        pmce = cls.create_from_offer_accept(True, accept)
        pmce.level = level
        return pmce

    def start_compress_message(self) -> None:
        """Called by autobahn before each outgoing compressed message."""
        if self._deflater is None or self.server_no_context_takeover:
            self._deflater = zlib.compressobj(
                self.level, zlib.DEFLATED, -self.server_max_window_bits, self.mem_level
            )

    def compress_message_data(self, data: bytes) -> bytes:
        """Called by autobahn with each part of an outgoing message; returns deflated bytes."""
        return bytes(self._deflater.compress(data))

    def end_compress_message(self) -> bytes:
        """Called by autobahn at the end of an outgoing message; returns the last bytes."""
        # RFC 7692, 7.2.1: end with a sync flush and remove its trailing 00 00 ff ff.
        tail = bytes(self._deflater.flush(zlib.Z_SYNC_FLUSH)[:-4])
        if self.server_no_context_takeover:
            self._deflater = None  # no state kept between messages: no memory held while idle
        return tail
