"""tests/vectors/entities.json is what tests/vectors/entities_generate.py writes today."""

from __future__ import annotations

import json

import pytest

from reznet_ws.codec.entities import EntityError, EntityTable, resolve_frame

from .vector_support import VECTORS_DIR, generator


def test_entity_vectors_are_fresh() -> None:
    committed = (VECTORS_DIR / "entities.json").read_text(encoding="utf-8")
    assert generator("entities_generate").render() == committed, (
        "stale: run python tests/vectors/entities_generate.py"
    )


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
