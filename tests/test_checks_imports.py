"""Running the system checks stays cheap: autobahn is imported only to validate deflate settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A project without the "daphne" app (whose AppConfig imports its server and so autobahn).
SCRIPT = """
import sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["reznet_ws", "django.contrib.auth", "django.contrib.contenttypes",
                    "rest_framework", "channels"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    REZNET_WS=%r,
)
django.setup()
from django.core.management import call_command

call_command("check", "--fail-level", "CRITICAL", verbosity=0)
print("autobahn" in sys.modules)
"""


@pytest.mark.parametrize(
    ("reznet_ws", "imported"),
    [({}, False), ({"DEFLATE_LEVEL": 9}, True), ({"PERMESSAGE_DEFLATE": 1}, True)],
)
def test_checks_import_autobahn_only_for_non_default_deflate_settings(
    reznet_ws: dict[str, object], imported: bool
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT % (reznet_ws,)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split()[-1] == str(imported)


def test_a_non_default_invalid_setting_is_still_reported() -> None:
    from django.test import override_settings

    from reznet_ws.checks.server import check_deflate_settings

    with override_settings(REZNET_WS={"PERMESSAGE_DEFLATE": 1}):
        assert [m.id for m in check_deflate_settings()] == ["reznet_ws.E030"]
    with override_settings(REZNET_WS={"DEFLATE_LEVEL": 6}):
        assert check_deflate_settings() == []
