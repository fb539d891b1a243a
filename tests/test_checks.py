"""The core system checks (reznet_ws.E001-E003, W001-W004), their registration and ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

import reznet_ws.checks
from reznet_ws.checks import check_channel_layers, check_redis_socket_timeout, check_settings


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_valid_settings_pass() -> None:
    with override_settings(REZNET_WS={"BATCH_SIZE": 5, "EXTRA_FIELDS": {"room": "rm"}}):
        assert check_settings() == []


def test_not_a_dict() -> None:
    with override_settings(REZNET_WS=["nope"]):
        assert ids(check_settings()) == ["reznet_ws.E001"]


def test_unknown_key_is_a_warning() -> None:
    with override_settings(REZNET_WS={"BATCH_SIZ": 5}):
        assert ids(check_settings()) == ["reznet_ws.W002"]


def test_out_of_range_numbers() -> None:
    bad = {"BATCH_SIZE": 0, "BATCH_WINDOW": -1, "GZIP_LEVEL": 11, "GZIP_MIN_SAVING": 1.5}
    with override_settings(REZNET_WS=bad):
        assert ids(check_settings()) == ["reznet_ws.E002"] * 4


@pytest.mark.parametrize("key", ["GC_FREEZE_CONNECTIONS", "LISTEN_BACKLOG"])
def test_server_counts_must_be_counts(key: str) -> None:
    for bad in (-1, 1.5, True, "1000"):
        with override_settings(REZNET_WS={key: bad}):
            assert ids(check_settings()) == ["reznet_ws.E002"]
    with override_settings(REZNET_WS={key: 0}):
        assert ids(check_settings()) == []


def test_field_map_that_is_not_a_bijection() -> None:
    with override_settings(REZNET_WS={"EXTRA_FIELDS": {"room": "c"}}):  # "c" is content's
        assert ids(check_settings()) == ["reznet_ws.E003"]


def test_missing_channel_layers() -> None:
    with override_settings(CHANNEL_LAYERS={}):
        assert ids(check_channel_layers()) == ["reznet_ws.W001"]


def core(hosts: list[Any]) -> dict[str, Any]:
    return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}


def test_redis_read_timeout_shorter_than_the_blocking_receive() -> None:
    import importlib.metadata

    # redis-py 8.1 gave connections a default read timeout of 5 s; before it, none.
    version = tuple(int(p) for p in importlib.metadata.version("redis").split(".")[:2])
    short = {"default": core([{"address": "redis://127.0.0.1:6379/0", "socket_timeout": 5}])}
    with override_settings(CHANNEL_LAYERS=short):
        assert ids(check_redis_socket_timeout()) == ["reznet_ws.W003"]
    plain = {"default": core(["redis://127.0.0.1:6379/0"])}
    expected = ["reznet_ws.W003"] if version >= (8, 1) else []
    with override_settings(CHANNEL_LAYERS=plain):
        assert ids(check_redis_socket_timeout()) == expected
    wrapped = {
        "default": {
            "BACKEND": "reznet_ws.layers.BatchingChannelLayer",
            "CONFIG": {"inner": short["default"]},
        }
    }
    with override_settings(CHANNEL_LAYERS=wrapped):
        assert ids(check_redis_socket_timeout()) == ["reznet_ws.W003"]
    fine = {"default": core([{"address": "redis://127.0.0.1:6379/0", "socket_timeout": 15}])}
    with override_settings(CHANNEL_LAYERS=fine):
        assert check_redis_socket_timeout() == []


def test_redis_default_timeout_falls_back_to_the_public_api() -> None:
    from reznet_ws.checks._redis import default_socket_timeout, public_default_socket_timeout

    public = public_default_socket_timeout()
    assert default_socket_timeout(private_module="redis._no_such_module") == public
    assert default_socket_timeout() == public  # the private module, where it exists, agrees


def test_every_check_is_registered_by_the_app() -> None:
    registered = checks.registry.registry.get_checks()
    for name in reznet_ws.checks.__all__:
        assert getattr(reznet_ws.checks, name) in registered, name


def test_every_check_id_is_documented() -> None:
    package = Path(reznet_ws.checks.__file__).parent
    ids = set(re.findall(r"reznet_ws\.[EWI]\d{3}", _source_of(package)))
    docs = Path(__file__).resolve().parents[1] / "docs"  # the checkout's (or the sdist's) docs
    doc = (docs / "checks.md").read_text(encoding="utf-8")
    assert ids and ids <= set(re.findall(r"`(reznet_ws\.[EWI]\d{3})`", doc))


def _source_of(package: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(package.glob("*.py")))


def test_an_unknown_json_backend_is_an_error() -> None:
    from reznet_ws.checks.settings import check_settings

    with override_settings(REZNET_WS={"JSON_BACKEND": "simdjson"}):
        assert [m.id for m in check_settings()] == ["reznet_ws.E004"]
    with override_settings(REZNET_WS={"JSON_BACKEND": "stdlib"}):
        assert check_settings() == []
