"""permessage-deflate without a server: negotiation, options, compression level, checks.

Nothing here imports Twisted or daphne.server (which would install a reactor in the test
process); the wire behaviour is in test_deflate_wire.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

import pytest
from autobahn.websocket.compress import PerMessageDeflate
from django.core.checks import run_checks
from django.test import override_settings

from reznet_ws.conf import DEFAULTS
from reznet_ws.server.arguments import add_deflate_arguments, deflate_overrides
from reznet_ws.server.deflate import (
    SCOPE_KEY,
    DeflateOptions,
    InvalidDeflateOptions,
    LevelledPerMessageDeflate,
    load_options,
    negotiate,
)

DEFAULT = DeflateOptions.from_config(DEFAULTS)
LIMIT = 1 << 20


def offer(**params: Any) -> list[tuple[str, dict[str, list[Any]]]]:
    """One permessage-deflate offer as autobahn parses it (``ConnectionRequest.extensions``)."""
    return [("permessage-deflate", {k: [v] for k, v in params.items()})]


# ----------------------------------------------------------------------------- negotiate


def test_browser_offer_gets_the_configured_windows() -> None:
    answer = negotiate(DEFAULT, offer(client_max_window_bits=True), LIMIT)
    assert answer is not None
    assert answer.accept.get_extension_string() == "permessage-deflate; client_max_window_bits=12"
    assert answer.accept.max_message_size == LIMIT
    assert dict(answer.params) == {
        "level": 6,
        "mem_level": 5,
        "server_max_window_bits": 12,
        "client_max_window_bits": 12,
        "server_no_context_takeover": True,
        "client_no_context_takeover": False,
    }


def test_client_limits_lower_the_windows_never_raise_them() -> None:
    answer = negotiate(DEFAULT, offer(client_max_window_bits="10", server_max_window_bits="9"), 0)
    assert answer is not None
    assert answer.accept.get_extension_string() == (
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10"
    )
    assert answer.accept.max_message_size is None  # daphne limit 0: no limit
    wide = DeflateOptions.from_config(
        DEFAULTS, server_max_window_bits=15, client_max_window_bits=15
    )
    answer = negotiate(wide, offer(client_max_window_bits="11", server_max_window_bits="13"), 0)
    assert answer is not None
    params = answer.params
    assert (params["server_max_window_bits"], params["client_max_window_bits"]) == (13, 11)


def test_offer_without_client_window_param_leaves_the_client_window_alone() -> None:
    answer = negotiate(DEFAULT, offer(), LIMIT)
    assert answer is not None
    assert answer.accept.get_extension_string() == "permessage-deflate"
    assert answer.params["client_max_window_bits"] == 15


def test_context_takeover_options_and_requests() -> None:
    answer = negotiate(DEFAULT, offer(server_no_context_takeover=True), LIMIT)
    assert answer is not None
    assert answer.params["server_no_context_takeover"] is True
    assert "server_no_context_takeover" in answer.accept.get_extension_string()
    options = DeflateOptions.from_config(DEFAULTS, client_no_context_takeover=True)
    answer = negotiate(options, offer(client_max_window_bits=True), LIMIT)
    assert answer is not None
    assert "client_no_context_takeover" in answer.accept.get_extension_string()


@pytest.mark.parametrize(
    "extensions",
    [
        [],
        [("x-webkit-deflate-frame", {})],
        offer(server_max_window_bits="8"),  # malformed: autobahn fails the handshake
        offer(unknown_param=True),
    ],
)
def test_nothing_to_accept(extensions: list[tuple[str, dict[str, list[Any]]]]) -> None:
    assert negotiate(DEFAULT, extensions, LIMIT) is None


def test_disabled_accepts_nothing() -> None:
    off = DeflateOptions.from_config(DEFAULTS, enabled=False)
    assert negotiate(off, offer(client_max_window_bits=True), LIMIT) is None


def test_first_acceptable_offer_wins() -> None:
    offers = [*offer(server_max_window_bits="10"), *offer(client_max_window_bits=True)]
    answer = negotiate(DEFAULT, offers, LIMIT)
    assert answer is not None
    assert answer.params["server_max_window_bits"] == 10


# ----------------------------------------------------------------------------- compression level


def _compressed_size(level: int, payload: bytes) -> int:
    answer = negotiate(DEFAULT, offer(client_max_window_bits=True), LIMIT)
    assert answer is not None
    server = LevelledPerMessageDeflate.from_accept(answer.accept, level)
    server.start_compress_message()
    data = server.compress_message_data(payload) + server.end_compress_message()
    # The client's side: autobahn's own processor with the windows the server announced.
    client = PerMessageDeflate(False, False, False, 12, 12, 8)
    client.start_decompress_message()
    assert client.decompress_message_data(data) == payload
    client.end_decompress_message()
    return len(data)


def test_compression_level_is_applied() -> None:
    payload = b"".join(
        b'{"message_id": "m-%d", "content": "hello %d"}' % (i, i) for i in range(300)
    )
    stored, best = _compressed_size(0, payload), _compressed_size(9, payload)
    assert stored > len(payload)  # level 0: stored blocks
    assert best < len(payload) / 5


# ----------------------------------------------------------------------------- options


def test_options_follow_settings_and_overrides() -> None:
    with override_settings(REZNET_WS={"DEFLATE_LEVEL": 1, "DEFLATE_MEM_LEVEL": 8}):
        options = load_options(mem_level=None, server_max_window_bits=15)
    assert (options.level, options.mem_level, options.server_max_window_bits) == (1, 8, 15)
    assert options.describe().startswith("on (level 1, server window 15 bits")
    assert load_options(enabled=False).describe() == "off"


def test_invalid_options_raise_with_every_problem() -> None:
    with pytest.raises(InvalidDeflateOptions) as raised:
        load_options(level=10, client_max_window_bits=8)
    assert "DEFLATE_LEVEL" in str(raised.value)
    assert "DEFLATE_CLIENT_MAX_WINDOW_BITS" in str(raised.value)


def test_exclude_paths() -> None:
    options = DeflateOptions.from_config(DEFAULTS, exclude_paths=("/ws/secrets/",))
    assert options.excludes("/ws/secrets/42/")
    assert not options.excludes("/ws/chat/")
    assert not DEFAULT.excludes("/anything/")


def test_command_line_overrides() -> None:
    parser = argparse.ArgumentParser()
    add_deflate_arguments(parser)
    none_given = deflate_overrides(vars(parser.parse_args([])))
    assert set(none_given.values()) == {None}
    given = deflate_overrides(
        vars(
            parser.parse_args(
                ["--no-permessage-deflate", "--deflate-level", "3", "--deflate-no-context-takeover",
                 "--deflate-exclude-path", "/a/", "--deflate-exclude-path", "/b/"]
            )
        )
    )  # fmt: skip
    assert given == {
        "enabled": False,
        "level": 3,
        "server_max_window_bits": None,
        "client_max_window_bits": None,
        "mem_level": None,
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
        "exclude_paths": ("/a/", "/b/"),
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["--deflate-server-window-bits", "16"])


def test_scope_key_is_the_consumer_contract() -> None:
    assert SCOPE_KEY == "reznet.permessage_deflate"


def test_options_and_checks_do_not_import_twisted() -> None:
    code = (
        "import sys, reznet_ws.server.deflate, reznet_ws.server.arguments, "
        "reznet_ws.checks.server; assert 'twisted.internet.reactor' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ----------------------------------------------------------------------------- checks


def _ids(**kwargs: Any) -> set[str]:
    """Ids of the server checks (reznet_ws.E03x / W03x) reported with these settings."""
    with override_settings(**kwargs):
        ids = {m.id or "" for m in run_checks()}
    return {i for i in ids if i.startswith(("reznet_ws.E03", "reznet_ws.W03"))}


def test_checks_pass_with_the_test_settings() -> None:
    assert _ids() == set()


def test_warns_when_daphne_runserver_wins() -> None:
    from django.conf import settings

    apps = ["daphne", *(a for a in settings.INSTALLED_APPS if a != "daphne")]
    assert "reznet_ws.W030" in _ids(INSTALLED_APPS=apps)
    assert "reznet_ws.W030" not in _ids(
        INSTALLED_APPS=apps, REZNET_WS={"PERMESSAGE_DEFLATE": False}
    )


def test_invalid_values_are_errors() -> None:
    ids = _ids(
        REZNET_WS={
            "PERMESSAGE_DEFLATE": "yes",
            "DEFLATE_LEVEL": 11,
            "DEFLATE_SERVER_MAX_WINDOW_BITS": 8,
            "DEFLATE_CLIENT_MAX_WINDOW_BITS": 16,
            "DEFLATE_MEM_LEVEL": 0,
            "DEFLATE_SERVER_NO_CONTEXT_TAKEOVER": 1,
            "DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER": None,
            "DEFLATE_EXCLUDE_PATHS": "/ws/account/",  # a string, not a list
        }
    )
    assert {f"reznet_ws.E03{i}" for i in range(8)} <= ids


def test_unbounded_inflation_warns() -> None:
    assert "reznet_ws.W031" in _ids(DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE=0)
    assert "reznet_ws.W031" not in _ids(DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE=65536)


# ----------------------------------------------------------------------------- wire-byte stats

_FLUSH_SCRIPT = """
import django
django.setup()
from autobahn.websocket.protocol import TrafficStats
from reznet_ws.server.server import DeflateWebSocketProtocol
from reznet_ws.stats import get_recorder

counters = get_recorder().counters
protocol = DeflateWebSocketProtocol()
protocol.flush_wire_bytes()  # before autobahn set up its counters: nothing to record
protocol.trafficStats = traffic = TrafficStats()
traffic.outgoingOctetsWireLevel, traffic.incomingOctetsWireLevel = 1000, 40
traffic.preopenOutgoingOctetsWireLevel = 129  # the handshake is not counted
protocol.flush_wire_bytes()
assert (counters["wire_bytes_sent"], counters["wire_bytes_received"]) == (1000, 40), counters
protocol.flush_wire_bytes()  # nothing new: nothing recorded
traffic.outgoingOctetsWireLevel += 500
protocol.flush_wire_bytes()
assert (counters["wire_bytes_sent"], counters["wire_bytes_received"]) == (1500, 40), counters
"""


def test_wire_bytes_are_recorded_once() -> None:
    # In a subprocess: the server module installs daphne's reactor, which this process must not.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    subprocess.run([sys.executable, "-c", _FLUSH_SCRIPT], check=True, timeout=60, env=env)
