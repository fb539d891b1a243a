"""The field map: the default table, validation, the hash and extension."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from reznet_ws.codec import DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS, FieldMap

DOCS = Path(__file__).resolve().parent.parent / "docs"

# The original optimizer's map, with `timestamp` moved off `ts` (it collided with created_at).
ORIGINAL = {
    "message_id": "mid",
    "channel_id": "cid",
    "author_type": "at",
    "author_name": "an",
    "author_id": "aid",
    "content": "c",
    "created_at": "ts",
    "updated_at": "uts",
    "metadata": "m",
    "agent_name": "ag",
    "agent_id": "agid",
    "status": "s",
    "workflow_id": "wid",
    "description": "d",
    "orchestrator": "orch",
    "plan": "p",
    "total_tasks": "tt",
    "tasks": "t",
    "order": "o",
    "depends_on": "dep",
    "chunk": "ch",
    "is_final": "fin",
    "streaming": "str",
    "message": "msg",
    "error": "err",
    "user_name": "un",
    "sid": "sid",
    "model": "mdl",
    "provider": "prv",
    "in_reply_to": "irt",
    "tokens": "tok",
    "id": "id",
    "name": "n",
    "type": "ty",
    "value": "v",
    "key": "k",
    "data": "da",
    "timestamp": "tms",
}


def test_default_map_keeps_the_original_short_names() -> None:
    assert {full: DEFAULT_FIELD_MAP.get(full) for full in ORIGINAL} == ORIGINAL


def test_default_map_adds_common_fields() -> None:
    added = set(DEFAULT_FIELD_MAP) - set(ORIGINAL)
    assert len(added) >= 15
    assert {"user_id", "username", "channel", "progress", "result", "title"} <= added


def test_default_map_is_a_valid_bijection() -> None:
    field_map = FieldMap(DEFAULT_FIELD_MAP, DEFAULT_TIMESTAMP_FIELDS)
    assert len(set(DEFAULT_FIELD_MAP.values())) == len(DEFAULT_FIELD_MAP)
    assert field_map.inverse == {short: full for full, short in DEFAULT_FIELD_MAP.items()}
    assert FieldMap.default() == field_map


def test_default_timestamp_fields() -> None:
    assert isinstance(DEFAULT_TIMESTAMP_FIELDS, frozenset)
    assert {
        "created_at",
        "updated_at",
        "timestamp",
        "deleted_at",
        "started_at",
        "completed_at",
        "sent_at",
        "edited_at",
        "expires_at",
    } <= DEFAULT_TIMESTAMP_FIELDS


def test_field_map_doc_lists_the_default_map() -> None:
    text = (DOCS / "field-map.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]*)` \| `([^`]*)` \| (yes)? *\|$", text, flags=re.MULTILINE)
    assert {full: short for full, short, _ in rows} == DEFAULT_FIELD_MAP
    assert {full for full, _, stamp in rows if stamp} == DEFAULT_TIMESTAMP_FIELDS
    assert f"`{FieldMap.default().hash}`" in text


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"a": "x", "b": "x"}, "not a bijection"),
        ({"a": ""}, "empty"),
        ({"a": "~a"}, "starts with '~'"),
        ({"a": 1}, "must be str"),
        ({1: "a"}, "must be str"),
        ({"a": None}, "must be str"),
        ([("a", "b")], "must be a mapping"),
    ],
)
def test_invalid_maps_are_refused(mapping: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        FieldMap(mapping, [])  # type: ignore[arg-type]


@pytest.mark.parametrize("fields", ["created_at", [1], [None]])
def test_invalid_timestamp_fields_are_refused(fields: object) -> None:
    with pytest.raises(ValueError, match="timestamp_fields"):
        FieldMap({}, fields)  # type: ignore[arg-type]


def test_names_that_are_allowed() -> None:
    field_map = FieldMap({"": "e", "~x": "x", "a": "a", "b": "_v"}, ["", "~x"])
    assert field_map.inverse == {"e": "", "x": "~x", "a": "a", "_v": "b"}


def test_hash_matches_the_spec_formula() -> None:
    field_map = FieldMap({"a": "b"}, ["a"])
    text = json.dumps([{"a": "b"}, ["a"]], sort_keys=True, separators=(",", ":"))
    assert text == '[{"a":"b"},["a"]]'
    assert field_map.hash == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert field_map.hash == "2ff99075a727710d"


def test_hash_ignores_order_and_sees_every_change() -> None:
    one = FieldMap({"a": "x", "b": "y"}, ["b", "a"])
    two = FieldMap({"b": "y", "a": "x"}, ["a", "b"])
    assert one.hash == two.hash
    assert re.fullmatch("[0-9a-f]{16}", one.hash)
    assert FieldMap({"a": "x", "b": "z"}, ["a", "b"]).hash != one.hash
    assert FieldMap({"a": "x", "b": "y"}, ["a"]).hash != one.hash


def test_hash_of_non_ascii_names_uses_ascii_escapes() -> None:
    field_map = FieldMap({"ключ": "к"}, [])
    text = json.dumps([{"ключ": "к"}, []], sort_keys=True, separators=(",", ":"))
    assert field_map.hash == hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def test_field_map_is_immutable() -> None:
    field_map = FieldMap({"a": "x"}, ["a"])
    field_map.mapping["b"] = "y"
    field_map.inverse["y"] = "b"
    assert field_map.mapping == {"a": "x"}
    assert field_map.inverse == {"x": "a"}
    assert field_map.timestamp_fields == frozenset({"a"})
    with pytest.raises(AttributeError):
        field_map.extra = 1  # type: ignore[attr-defined]


def test_extended_adds_and_overrides() -> None:
    base = FieldMap({"content": "c", "name": "n"}, ["created_at"])
    extended = base.extended({"content": "body", "invoice": "inv"}, ["paid_at"])
    assert extended.mapping == {"name": "n", "content": "body", "invoice": "inv"}
    assert extended.timestamp_fields == {"created_at", "paid_at"}
    assert base.mapping == {"content": "c", "name": "n"}
    assert extended.hash != base.hash


def test_extended_refuses_a_short_name_taken_by_another_field() -> None:
    with pytest.raises(ValueError, match="not a bijection"):
        FieldMap.default().extended({"invoice": "c"})


def test_extended_can_reuse_the_short_name_it_replaces() -> None:
    extended = FieldMap({"content": "c"}, []).extended({"content": "x", "text": "c"})
    assert extended.mapping == {"content": "x", "text": "c"}


def test_equality_hash_and_repr() -> None:
    one = FieldMap({"a": "x"}, ["a"])
    assert one == FieldMap({"a": "x"}, ["a"])
    assert one != FieldMap({"a": "x"}, [])
    assert one != {"a": "x"}
    assert len({one, FieldMap({"a": "x"}, ["a"])}) == 1
    assert one.hash in repr(one)
