"""System checks for the daphne integration (``reznet_ws.E030``-``E039``, ``W030``-``W039``).

Every id is documented in docs/checks.md and docs/transport-compression.md. Importing this module
stays cheap: ``reznet_ws.server.deflate`` (and with it autobahn) is imported inside the one check
that needs it, and only when a deflate setting differs from its default. The version checks ask
the adapters (``reznet_ws.server.twisted_compat``, ``autobahn_compat``), which import neither.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.management import get_commands

from ..conf import DEFAULTS, get_config
from ..server import autobahn_compat, twisted_compat

__all__ = [
    "check_autobahn_internals",
    "check_autobahn_version",
    "check_deflate_settings",
    "check_inflate_limit",
    "check_runserver_command",
    "check_twisted_internals",
]

#: DeflateOptions field -> error id for an invalid value.
_ERROR_IDS: dict[str, str] = {
    "enabled": "reznet_ws.E030",
    "level": "reznet_ws.E031",
    "server_max_window_bits": "reznet_ws.E032",
    "client_max_window_bits": "reznet_ws.E033",
    "mem_level": "reznet_ws.E034",
    "server_no_context_takeover": "reznet_ws.E035",
    "client_no_context_takeover": "reznet_ws.E036",
    "exclude_paths": "reznet_ws.E037",
}
#: The REZNET_WS keys of permessage-deflate; their defaults are valid.
_DEFLATE_KEYS = tuple(k for k in DEFAULTS if k == "PERMESSAGE_DEFLATE" or k.startswith("DEFLATE_"))
#: First autobahn release that bounds the inflated size of compressed messages.
_SAFE_AUTOBAHN = (26, 7, 1)


def _deflate_enabled() -> bool:
    return get_config()["PERMESSAGE_DEFLATE"] is True


def check_deflate_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every permessage-deflate setting has a valid value (E030-E037)."""
    config = get_config()
    if all(_is_default(config, key) for key in _DEFLATE_KEYS):
        return []
    # Imported here: the module imports autobahn, which most manage.py commands never need.
    from ..server.deflate import SETTING_NAMES, DeflateOptions

    options = DeflateOptions.from_config(config)
    return [
        Error(
            f"REZNET_WS[{SETTING_NAMES[field]!r}] {message}.",
            hint="See docs/transport-compression.md for the valid values.",
            id=_ERROR_IDS[field],
        )
        for field, message in options.problems()
    ]


def check_runserver_command(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``runserver`` is ours, or it silently serves without permessage-deflate (W030)."""
    if not _deflate_enabled():
        return []
    provider = get_commands().get("runserver")
    if provider == "reznet_ws":
        return []
    return [
        Warning(
            f"'runserver' is provided by {provider!r}, so 'manage.py runserver' will not "
            "negotiate permessage-deflate.",
            hint=f"List 'reznet_ws' before {provider!r} in INSTALLED_APPS: Django runs the "
            "command of the first app that has one.",
            id="reznet_ws.W030",
        )
    ]


def check_inflate_limit(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """runserver's message-size limit also bounds inflation; 0 leaves it unbounded (W031)."""
    limit = getattr(settings, "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE", 1024 * 1024)
    if not _deflate_enabled() or limit:
        return []
    return [
        Warning(
            "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE is 0 while permessage-deflate is on: a small "
            "compressed message can inflate without bound (decompression bomb).",
            hint="Set DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE (default 1 MiB) to a limit.",
            id="reznet_ws.W031",
        )
    ]


def check_autobahn_version(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """autobahn older than 26.7.1 inflates compressed messages without bound (W032)."""
    if not _deflate_enabled():
        return []
    try:
        version = importlib.metadata.version("autobahn")
    except importlib.metadata.PackageNotFoundError:
        return []
    if _release(version) >= _SAFE_AUTOBAHN:
        return []
    return [
        Warning(
            f"autobahn {version} does not bound the inflated size of compressed messages.",
            hint="pip install 'autobahn>=26.7.1', or set PERMESSAGE_DEFLATE to False.",
            id="reznet_ws.W032",
        )
    ]


def check_twisted_internals(
    app_configs: Any = None, twisted_version: str | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W033: Twisted is not a release whose write buffer reznet-ws knows.

    Which ASGI server will run is unknown at start-up; Twisted's version is known. On daphne and
    reznet-daphne with an unknown Twisted, the fan-out cannot read a connection's write buffer:
    backpressure falls back to the outbox queue, as on any other server, and reznet-daphne's
    direct writes and 4009 backlog discard are off. ``twisted_version`` is a test seam.
    """
    version = twisted_version or twisted_compat.twisted_version()
    if version is None or twisted_compat.version_supported(version):
        return []
    tested = twisted_compat.TESTED_MAJOR_VERSIONS
    return [
        Warning(
            f"Twisted {version} is not a release whose write buffer reznet-ws knows (tested: "
            f"{tested[0]}-{tested[-1]}): on daphne and reznet-daphne the fan-out's backpressure "
            "uses the outbox queue, and direct writes and the 4009 backlog discard are off.",
            hint=f"pip install 'twisted<{tested[-1] + 1}', or a reznet-ws that knows this Twisted.",
            id="reznet_ws.W033",
        )
    ]


def check_autobahn_internals(
    app_configs: Any = None, autobahn_version: str | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W034: autobahn is not a release whose internals reznet-ws knows: DEFLATE_LEVEL is ignored.

    ``autobahn_version`` is a test seam.
    """
    config = get_config()
    level = config["DEFLATE_LEVEL"]
    if not _deflate_enabled() or level == autobahn_compat.AUTOBAHN_LEVEL:
        return []
    version = autobahn_version or autobahn_compat.autobahn_version()
    if version is None or autobahn_compat.levels_supported(version):
        return []
    tested = autobahn_compat.TESTED_MAJOR_VERSIONS
    return [
        Warning(
            f"autobahn {version} is not a release whose internals reznet-ws knows (tested: "
            f"{tested[0]}-{tested[-1]}): reznet-daphne compresses at autobahn's own level "
            f"({autobahn_compat.AUTOBAHN_LEVEL}), not DEFLATE_LEVEL {level!r}.",
            hint=f"pip install 'autobahn<{tested[-1] + 1}', or a reznet-ws that knows this "
            "autobahn.",
            id="reznet_ws.W034",
        )
    ]


def _is_default(config: Any, key: str) -> bool:
    # The type too: 1 == True, yet PERMESSAGE_DEFLATE = 1 is an error (E030).
    value, default = config[key], DEFAULTS[key]
    return type(value) is type(default) and bool(value == default)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])
