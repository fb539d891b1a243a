"""reznet-daphne raises its open-file limit at start and says how many connections fit."""

from __future__ import annotations

import logging

import pytest

from reznet_ws.server.limits import RESERVED_FDS, raise_open_file_limit


class FakeResource:
    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft: int, hard: int, refuse: bool = False) -> None:
        self.limits = (soft, hard)
        self.refuse = refuse

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == self.RLIMIT_NOFILE
        return self.limits

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        if self.refuse:
            raise ValueError("not allowed")
        self.limits = limits


def test_the_soft_limit_is_raised_to_the_hard_limit() -> None:
    fake = FakeResource(1024, 65536)
    assert raise_open_file_limit(fake) == 65536 - RESERVED_FDS
    assert fake.limits == (65536, 65536)


def test_a_low_limit_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reznet_ws.server")
    fake = FakeResource(1024, 2048, refuse=True)
    assert raise_open_file_limit(fake) == 1024 - RESERVED_FDS
    assert fake.limits == (1024, 2048)
    assert "Could not raise the open-file limit" in caplog.text
    assert "room for about 960 WebSocket connections" in caplog.text


def test_the_real_limit_is_raised() -> None:
    import resource

    raise_open_file_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY
