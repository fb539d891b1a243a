"""tests/vectors/entities.json is what tests/vectors/entities_generate.py writes today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from reznet_ws.codec.entities import EntityError, EntityTable, resolve_frame

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"


def test_entity_vectors_are_fresh() -> None:
    spec = importlib.util.spec_from_file_location(
        "entities_generate", VECTORS_DIR / "entities_generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (VECTORS_DIR / "entities.json").read_text(encoding="utf-8")
    assert module.render() == committed, "stale: run python tests/vectors/entities_generate.py"


def test_invalid_entity_frames_raise() -> None:
    vectors = json.loads((VECTORS_DIR / "entities.json").read_text(encoding="utf-8"))
    for item in vectors["invalid"]:
        with pytest.raises(EntityError):
            resolve_frame(json.loads(item["frame"]), EntityTable(2))


def test_a_change_that_does_not_apply_drops_the_entity() -> None:
    table = EntityTable(4)
    table.store([("a:1", {"n": 1})])
    frame = {"t": [["a:2", {"n": 2}], ["a:1", None, [["x"]]]], "d": {"~": "a:2"}}
    with pytest.raises(EntityError):
        resolve_frame(frame, table)
    assert table.items == {"a:2": {"n": 2}}
