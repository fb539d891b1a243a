"""The codec is pure: importing it loads neither Django nor Channels."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import reznet_ws.codec

ROOT = Path(__file__).resolve().parent.parent
CODEC_DIR = Path(reznet_ws.codec.__file__).resolve().parent


def test_importing_the_codec_loads_no_django_or_channels() -> None:
    script = (
        "import sys, reznet_ws.codec\n"
        "frameworks = {'django', 'channels', 'daphne', 'rest_framework'}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in frameworks)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_codec_modules_import_only_the_standard_library_and_each_other() -> None:
    # orjson: the optional [fast] extra, imported behind a guard (codec/fastjson.py).
    allowed = set(sys.stdlib_module_names) | {"__future__", "orjson"}
    for path in sorted(CODEC_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_public_api() -> None:
    assert reznet_ws.codec.PROTOCOL_VERSION == 2
    assert reznet_ws.codec.SUBPROTOCOL == "reznet.v2"
    for name in reznet_ws.codec.__all__:
        assert hasattr(reznet_ws.codec, name)


def test_protocol_doc_states_the_same_version() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert re.search(r"Protocol version: \*\*(\d+)\*\*", text).group(1) == str(  # type: ignore[union-attr]
        reznet_ws.codec.PROTOCOL_VERSION
    )
    assert f"`{reznet_ws.codec.SUBPROTOCOL}`" in text
