"""daphne's Server with permessage-deflate, RFC 6455 edges and a graceful shutdown.

Importing this module imports ``daphne.server``, which installs Twisted's asyncio reactor.

How it hooks into daphne without copying it:

- ``Server.run()`` builds its WebSocket factory and assigns ``self.ws_factory``; the property
  below sees that assignment and switches the factory to :class:`DeflateWebSocketProtocol`. It sets
  attributes only and never calls ``setProtocolOptions`` (whose ``allowNullOrigin=False`` default
  would undo daphne's ``allowNullOrigin=True``); daphne's own ``setProtocolOptions`` call right
  after leaves ``perMessageCompressionAccept`` alone because it passes None for it.
- daphne builds the ASGI scope in ``onConnect`` while autobahn negotiates extensions later, in
  ``succeedHandshake`` (after the application accepted). The protocol therefore answers the offers
  in ``onConnect``, keeps the answer, and gives autobahn that same answer: the scope flag is set
  exactly on the connections that negotiate the extension.
- ``create_application`` hands each WebSocket application a ``receive`` that tells its protocol
  when the application waits for a message (the protocol holds an error close until then).
- daphne registers ``kill_all_applications`` to run before the reactor stops (SIGTERM, SIGINT);
  the override first closes every WebSocket with 1001 (:meth:`DeflateServer.close_websockets`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

# daphne.server installs the asyncio reactor: it must come before any other Twisted import.
import daphne.server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet.defer import Deferred

from reznet_ws.conf import get_config
from reznet_ws.server.deflate import SCOPE_KEY, load_options
from reznet_ws.server.gcpolicy import GcFreezePolicy
from reznet_ws.server.protocol import DeflateWebSocketProtocol

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "DeflateServer", "DeflateWebSocketProtocol", "with_backlog"]

logger = logging.getLogger("reznet_ws.server")

#: Seconds a shutdown waits for WebSockets to close and applications to finish (--shutdown-timeout).
DEFAULT_SHUTDOWN_TIMEOUT = 5.0


class DeflateServer(daphne.server.Server):
    """daphne's Server, negotiating permessage-deflate per the settings and ``deflate_overrides``.

    ``deflate_overrides`` holds :class:`DeflateOptions` fields from the command line; None values
    fall back to ``REZNET_WS`` (or the defaults when Django settings are not configured). Invalid
    values raise InvalidDeflateOptions here, before anything listens. ``shutdown_timeout`` bounds
    the graceful close of the WebSockets on SIGTERM / SIGINT.
    """

    protocol_class: type[DeflateWebSocketProtocol] = DeflateWebSocketProtocol
    application: Any
    endpoints: list[str]

    def __init__(
        self,
        *args: Any,
        deflate_overrides: Mapping[str, Any] | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        self.deflate_options = load_options(**(deflate_overrides or {}))
        self.shutdown_timeout = shutdown_timeout
        self._ports: list[Any] = []
        self._all_closed: asyncio.Event | None = None
        self._gc_policy: GcFreezePolicy | None = None
        super().__init__(*args, **kwargs)
        self.endpoints = [
            with_backlog(endpoint, get_config()["LISTEN_BACKLOG"]) for endpoint in self.endpoints
        ]
        if self.deflate_options.enabled and not self.websocket_max_message_size:
            logger.warning(
                "permessage-deflate is on and --websocket-max-message-size is 0: compressed "
                "messages can inflate without bound. Set a limit."
            )

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        # Server.run() assigns its factory here, before calling setProtocolOptions on it.
        self._ws_factory = self.configure_ws_factory(factory)

    def configure_ws_factory(self, factory: WebSocketFactory) -> WebSocketFactory:
        """Called when daphne creates its WebSocket factory; returns the factory to use."""
        factory.protocol = self.protocol_class
        factory.deflate_options = self.deflate_options
        logger.info("permessage-deflate: %s", self.deflate_options.describe())
        return factory

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        """Called by daphne's protocols with the new scope; flags negotiated connections."""
        negotiated = getattr(protocol, "negotiated", None)
        if negotiated is not None:
            extensions = scope.get("extensions")
            scope["extensions"] = extensions = dict(extensions) if extensions else {}
            extensions[SCOPE_KEY] = dict(negotiated.params)
        if not isinstance(protocol, DeflateWebSocketProtocol):
            return super().create_application(protocol, scope)
        application: Any = self.application
        self.application = _WatchedApplication(application, protocol)
        try:
            return super().create_application(protocol, scope)
        finally:
            self.application = application

    # ---------------------------------------------------------------- shutdown

    # ------------------------------------------------------------ collector

    def timeout_checker(self) -> None:
        """Called by daphne every 2 seconds; also keeps full GC collections short (gcpolicy)."""
        policy = self._gc_policy
        if policy is None:
            policy = self._gc_policy = GcFreezePolicy(get_config()["GC_FREEZE_CONNECTIONS"])
        policy.tick(len(self.connections))
        super().timeout_checker()

    def listen_success(self, port: Any) -> None:
        """Called by daphne for every endpoint it listens on; kept to stop listening at shutdown."""
        self._ports.append(port)
        super().listen_success(port)

    def protocol_disconnected(self, protocol: Any) -> None:
        """Called by daphne's protocols when their connection closed."""
        super().protocol_disconnected(protocol)
        if self._all_closed is not None and not self.open_websockets():
            self._all_closed.set()

    def open_websockets(self) -> list[WebSocketProtocol]:
        """Return the WebSocket connections that are open or closing."""
        states = (WebSocketProtocol.STATE_OPEN, WebSocketProtocol.STATE_CLOSING)
        return [
            protocol
            for protocol, details in list(self.connections.items())
            if isinstance(protocol, WebSocketProtocol)
            and "disconnected" not in details
            and protocol.state in states
        ]

    def kill_all_applications(self) -> Deferred[Any]:
        """Called by the reactor before it stops: close the WebSockets, then let daphne cancel."""
        closing: Deferred[Any] = Deferred.fromFuture(asyncio.ensure_future(self.close_websockets()))
        closing.addErrback(lambda failure: logger.error("Graceful shutdown failed: %s", failure))
        closing.addBoth(lambda _: super(DeflateServer, self).kill_all_applications())
        return closing

    async def close_websockets(self) -> None:
        """Stop listening, close every WebSocket with 1001 and wait for them and their apps.

        reznet consumers close themselves (after flushing their batch) through
        ``reznet_ws.delivery.process.shutdown_connections``; any other open WebSocket gets a
        close frame 1001 from the server. Waits at most :attr:`shutdown_timeout` seconds in all.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        for port in self._ports:
            port.stopListening()
        if not self.open_websockets():
            return
        logger.info("Closing %d WebSocket connections (1001)", len(self.open_websockets()))
        self._all_closed = asyncio.Event()
        await self._close_reznet_consumers(deadline - loop.time())
        for protocol in self.open_websockets():
            if isinstance(protocol, DeflateWebSocketProtocol):
                protocol.close_going_away()
            elif protocol.state == WebSocketProtocol.STATE_OPEN:
                protocol.sendCloseFrame(code=1001)
        if self.open_websockets():
            await _wait(self._all_closed.wait(), deadline - loop.time())
        instances = [
            details["application_instance"]
            for details in self.connections.values()
            if "application_instance" in details and not details["application_instance"].done()
        ]
        if instances:
            await _wait(asyncio.wait(instances), deadline - loop.time())

    async def _close_reznet_consumers(self, timeout: float) -> None:
        if not settings.configured:
            return
        try:
            from reznet_ws.delivery.process import shutdown_connections
        except Exception:  # no reznet consumers in this process (or an older reznet_ws)
            return
        try:
            closed = await shutdown_connections(code=1001, timeout=timeout)
        except Exception:
            logger.exception("Closing the reznet consumers at shutdown failed")
        else:
            logger.info("Closed %d reznet consumers (1001)", closed)


async def _wait(awaitable: Any, timeout: float) -> None:
    try:
        await asyncio.wait_for(awaitable, max(timeout, 0))
    except TimeoutError:
        pass


class _WatchedApplication:
    """The application, called once by daphne for ``protocol`` with a watched ``receive``."""

    def __init__(self, application: Callable[..., Any], protocol: DeflateWebSocketProtocol) -> None:
        self.application = application
        self.protocol = protocol

    def __call__(self, *, scope: Any, receive: Any, send: Any) -> Any:
        return self.application(
            scope=scope, receive=self.protocol.watch_receive(receive), send=send
        )


def with_backlog(endpoint: str, backlog: int) -> str:
    """Return a Twisted ``tcp:``/``tcp6:`` endpoint string that listens with ``backlog``.

    Twisted listens with a backlog of 50 unless told otherwise: a burst of connections (clients
    reconnecting after a deploy) overflows it and the kernel drops SYNs, which clients retry
    after one second, then three. Endpoints that set their own ``backlog`` are left alone.
    """
    kind = endpoint.split(":", 1)[0]
    if kind not in ("tcp", "tcp6") or "backlog=" in endpoint or backlog <= 0:
        return endpoint
    return f"{endpoint}:backlog={backlog}"
