"""Helpers of the tests of tests/vectors/: the committed files and the generators beside them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["VECTORS_DIR", "generator", "vectors"]

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"


def vectors(name: str) -> dict[str, Any]:
    """Return the committed tests/vectors/<name>.json."""
    return json.loads((VECTORS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def generator(name: str) -> ModuleType:
    """Import tests/vectors/<name>.py (the generators are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, VECTORS_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
