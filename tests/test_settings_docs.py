"""docs/settings.md documents every key of DEFAULTS, with the same default, and nothing else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reznet_ws.conf import DEFAULTS

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
ROW = re.compile(r"^\| `([A-Z_]+)` \| [^|]+ \| `(.+?)` \| .+ \|$")


def documented() -> dict[str, object]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = ast.literal_eval(match.group(2).replace("None", "None"))
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    assert documented() == DEFAULTS
