"""DRF endpoints for the WebSocket stats: ``include("reznet_ws.api.urls")``.

``path("api/websocket/", include("reznet_ws.api.urls"))`` serves ``stats``, ``stats/reset``,
``health``, ``schema`` (OpenAPI) and ``metrics`` (Prometheus) under the ``reznet_ws`` namespace.
"""
