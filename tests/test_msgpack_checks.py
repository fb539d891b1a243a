"""The system check of the MessagePack encoding (reznet_ws.W050)."""

from __future__ import annotations

from reznet_ws.checks.settings import check_msgpack
from reznet_ws.conf import DEFAULTS


def test_preferring_msgpack_without_the_package_warns() -> None:
    config = {**DEFAULTS, "PREFER_MSGPACK": True}
    [warning] = check_msgpack(config, available=lambda: False)
    assert warning.id == "reznet_ws.W050" and "reznet-ws[msgpack]" in str(warning.hint)
    assert check_msgpack(config) == []  # installed here
    assert check_msgpack(DEFAULTS, available=lambda: False) == []
