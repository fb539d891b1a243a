"""Entity references (docs/protocol.md, section 3.4). Pure: no Django.

Nested objects that the application declares as entities (an author profile inside every
message, found by its member name and the id field inside it) are sent once per connection and
then as references. The sender replaces each entity in the DATA value with the reference object
``{"~": REF}`` (``REF`` is ``"NAME:ID"``; no encoded DATA holds an object whose only key is
``"~"``: the field map escapes keys starting with ``~``) and lists in the frame's table ``"t"``
the definitions the receiver does not hold yet: ``{"_v":2,"e":EVENT,"t":[[REF,OBJ],...],"d":DATA}``.

A receiver resolves the references of a frame first (from the frame's table, then from what it
holds), then stores the frame's definitions in order: each one replaces any earlier value of its
``REF`` and goes last; while more than ``MAX`` are held the first one held is forgotten. The
sender keeps the same table per connection (:class:`EntityTable`) and updates it the same way for
every frame it writes, so it always knows exactly what the receiver holds: a reference to a
value the receiver does not hold is never sent. ``MAX`` is announced in ``connection_established``
(``features.entity_refs``); the receiver never forgets an entity on its own. A changed entity
the receiver holds may go as the row ``[REF,null,OPS]``: the operations of section 3.2 that turn
the value held into the new one (see :func:`table_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .delta import DeltaError, apply_delta, checked_diff, dump_ops
from .fields import FieldMap
from .frames import Codec
from .walk import out_key

__all__ = [
    "ENTITY_FEATURE_KEY",
    "REF_KEY",
    "TABLE_KEY",
    "EntityError",
    "EntityRules",
    "EntityTable",
    "Split",
    "entity_frame",
    "resolve_frame",
    "split_entities",
    "table_rows",
]

#: The member of a reference object: ``{"~": REF}``.
REF_KEY = "~"
#: The member of an event frame holding the entity definitions: ``[[REF, OBJ], ...]``.
TABLE_KEY = "t"
#: The ``connection_established`` feature announcing the table size (``MAX``).
ENTITY_FEATURE_KEY = "entity_refs"

_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_dump_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class EntityError(ValueError):
    """A reference that the receiver cannot resolve, or a malformed table."""


class EntityRules:
    """Which nested objects are entities, in the written names of one field map.

    ``rules`` maps a member name to the name of the id field inside its object
    (``{"author": "author_id"}``): every object under a member ``author``, at any depth, with an
    ``author_id`` that is a string or an integer, is an entity named ``author``. Objects whose
    DATA text is longer than ``max_size`` characters are sent inline.
    """

    def __init__(self, rules: Mapping[str, str], field_map: FieldMap, max_size: int) -> None:
        mapping = field_map.mapping
        shorts = frozenset(mapping.values())
        self.max_size = max_size
        #: written member name -> (entity name, written id field name)
        self.members = {
            out_key(name, mapping, shorts): (name, out_key(id_field, mapping, shorts))
            for name, id_field in rules.items()
        }
        self._needles = tuple(f"{_dump(name)}:{{" for name in self.members)

    def may_hold(self, data_text: str) -> bool:
        """Return False when ``data_text`` surely holds no entity (a cheap text scan)."""
        return any(needle in data_text for needle in self._needles)


class Split:
    """A DATA value with its entities replaced by references.

    ``data`` is the DATA text with references; ``entities`` lists ``(REF, OBJ text)`` in the
    order of their first occurrence; ``refs`` counts the references in ``data``.
    """

    __slots__ = ("data", "entities", "refs")

    def __init__(self, data: str, entities: list[tuple[str, str]], refs: int) -> None:
        self.data, self.entities, self.refs = data, entities, refs


def split_entities(value: object, rules: EntityRules) -> Split | None:
    """Return ``value`` (a parsed DATA value, changed in place) split, or None: no entity.

    An object with the same ``REF`` as an earlier one but another value stays inline.
    """
    found: dict[str, str] = {}
    refs = [0]
    _walk(value, rules, found, refs)
    if not found:
        return None
    return Split(_text(value), list(found.items()), refs[0])


def _walk(value: Any, rules: EntityRules, found: dict[str, str], refs: list[int]) -> None:
    if type(value) is list:
        for item in value:
            if type(item) in (dict, list):
                _walk(item, rules, found, refs)
        return
    if type(value) is not dict:
        return
    members = rules.members
    for key, item in value.items():
        rule = members.get(key)
        if rule is not None and type(item) is dict:
            ident = item.get(rule[1])
            if type(ident) is str or type(ident) is int:
                ref = f"{rule[0]}:{ident}"
                text = _text(item)
                if len(text) <= rules.max_size and found.setdefault(ref, text) == text:
                    value[key] = {REF_KEY: ref}
                    refs[0] += 1
                    continue
        if type(item) in (dict, list):
            _walk(item, rules, found, refs)


def _text(value: object) -> str:
    text = _dump(value)
    if not text.isascii() and any("\ud800" <= c <= "\udfff" for c in text):
        text = _dump_ascii(value)  # lone surrogates: keep the frame valid UTF-8
    return text


def entity_frame(codec: Codec, event: str, data: str, rows: list[str]) -> str:
    """Return ``{"_v":2,"e":EVENT,"t":[ROW,...],"d":DATA}`` (``rows``: texts, may be empty)."""
    return f'{{"_v":2,"e":{codec._event_json(event)},"t":[{",".join(rows)}],"d":{data}}}'


def table_rows(
    entities: list[tuple[str, str]], missing: tuple[int, ...], held: dict[str, Any], ratio: float
) -> list[str]:
    """Return the row texts for the ``missing`` entities of a receiver that holds ``held``.

    An entity held with another value goes as ``[REF,null,OPS]`` (the operations of section
    3.2 on the value held) when their text is shorter than ``ratio`` times the value's;
    otherwise, and for an entity not held, as ``[REF,OBJ]``.
    """
    rows = []
    for i in missing:
        ref, text = entities[i]
        old = held.get(ref)
        if old is not None and ratio > 0:
            ops = dump_ops(checked_diff(json.loads(old), json.loads(text), json.loads(old)))
            if len(ops) < len(text) * ratio:
                rows.append(f"[{_dump_ascii(ref)},null,{ops}]")
                continue
        rows.append(f"[{_dump_ascii(ref)},{text}]")
    return rows


class EntityTable:
    """The entities one receiver holds: ``REF`` -> value, at most ``max_entries``, in order.

    The server keeps one per connection with the DATA texts (to compare); a receiver keeps one
    with the parsed values. :meth:`store` updates both the same way.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.items: dict[str, Any] = {}
        self.evicted = 0

    def missing(self, entities: list[tuple[str, str]]) -> tuple[int, ...]:
        """Return the indexes of ``entities`` that are not held with exactly that text."""
        items = self.items
        for ref, text in entities:  # most often every one is held: no tuple to build
            if items.get(ref) != text:
                return tuple(i for i, (r, t) in enumerate(entities) if items.get(r) != t)
        return ()

    def store(self, rows: list[Any]) -> None:
        """Store a frame's definitions ``[(REF, value), ...]`` in order, forgetting the oldest."""
        items = self.items
        for ref, value in rows:
            items.pop(ref, None)
            items[ref] = value
        while len(items) > self.max_entries:
            del items[next(iter(items))]
            self.evicted += 1

    def clear(self) -> None:
        """Forget everything (the next frames define every entity they use again)."""
        self.items.clear()


def resolve_frame(frame: dict[str, Any], held: EntityTable) -> object:
    """Return the DATA of an event frame with a table, references resolved; store its table.

    A receiver's side of section 3.4: raises :class:`EntityError` for a malformed table or a
    reference that is neither in the table nor held (the table is stored all the same).
    """
    table = frame.get(TABLE_KEY)
    if type(table) is not list or not all(map(_is_row, table)):
        raise EntityError("an entity table is an array of [REF, OBJ] and [REF, null, OPS]")
    local: dict[str, Any] = {}
    failed = []
    for row in table:
        ref = row[0]
        value = row[1]
        if len(row) == 3:  # a change of the value defined before or held
            base = local[ref] if ref in local else held.items.get(ref, _MISSING)
            try:
                if base is _MISSING:
                    raise DeltaError(f"no entity {ref!r} to change")
                value = apply_delta(json.loads(json.dumps(base)), row[2])
            except DeltaError:
                failed.append(ref)
                local.pop(ref, None)  # neither the value before nor after: the server's is lost
                continue
        local[ref] = value
    try:
        if failed:
            raise EntityError(f"entity changes that do not apply: {failed!r}")
        return _resolve(frame.get("d"), local, held.items)
    finally:
        for ref in failed:  # never keep a value the server no longer has in mind
            held.items.pop(ref, None)
        held.store([(row[0], local[row[0]]) for row in table if row[0] in local])


def _is_row(row: object) -> bool:
    if type(row) is not list or not row or type(row[0]) is not str:
        return False
    if len(row) == 2:
        return row[1] is not None
    return len(row) == 3 and row[1] is None and type(row[2]) is list


def _resolve(value: Any, local: dict[str, Any], held: dict[str, Any]) -> Any:
    if type(value) is list:
        return [_resolve(item, local, held) for item in value]
    if type(value) is not dict:
        return value
    if len(value) == 1 and REF_KEY in value and type(value[REF_KEY]) is str:
        ref = value[REF_KEY]
        found = local[ref] if ref in local else held.get(ref, _MISSING)
        if found is _MISSING:
            raise EntityError(f"unknown entity reference {ref!r}")
        return json.loads(json.dumps(found))  # a copy: the handler may change it
    return {key: _resolve(item, local, held) for key, item in value.items()}


_MISSING = object()
