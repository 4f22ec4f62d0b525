"""What changed between two versions of a course's structure, item by item: ids are stable, so
an item of the same kind and id in both is the same item, changed or not."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

KINDS = ("course", "modules", "lessons", "concepts", "exercises")
# what names an item in the diff, beside its id
_LABEL = {"modules": "title", "lessons": "title", "concepts": "title", "exercises": "description"}
# nested lists and marks are no fields of the item itself
_NOT_FIELDS = {"id", "lessons", "concepts", "exercises", "edited"}


def _items(document: Mapping[str, Any]) -> Iterator[tuple[tuple[str, str | None], dict]]:
    """(kind, id) → the item's own fields, with ``parent`` (the id it hangs under)."""
    yield ("course", None), dict(document.get("course") or {})
    for module in document.get("modules", ()):
        yield ("modules", str(module["id"])), _fields(module, None)
        for lesson in module.get("lessons", ()):
            yield ("lessons", str(lesson["id"])), _fields(lesson, str(module["id"]))
            for kind in ("concepts", "exercises"):
                for item in lesson.get(kind, ()):
                    yield (kind, str(item["id"])), _fields(item, str(lesson["id"]))


def _fields(item: Mapping[str, Any], parent: str | None) -> dict:
    fields = {name: value for name, value in item.items() if name not in _NOT_FIELDS and name != "module_id"}
    return {**fields, **({"parent": parent} if parent else {})}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Items added, removed and changed from ``before`` to ``after`` (two version documents),
    each by kind and id; a changed one with each changed field's ``before`` and ``after``."""
    old, new = dict(_items(before)), dict(_items(after))
    added = [_named(kind, item_id, new[(kind, item_id)]) for kind, item_id in new if (kind, item_id) not in old]
    removed = [_named(kind, item_id, old[(kind, item_id)]) for kind, item_id in old if (kind, item_id) not in new]
    changed = []
    for key, fields in new.items():
        if key not in old:
            continue
        previous = old[key]
        changes = {
            name: {"before": previous.get(name), "after": fields.get(name)}
            for name in sorted(set(previous) | set(fields))
            if previous.get(name) != fields.get(name)
        }
        if changes:
            changed.append({"kind": key[0], "id": key[1], "changes": changes})
    return {"added": added, "removed": removed, "changed": changed}


def _named(kind: str, item_id: str | None, fields: Mapping[str, Any]) -> dict:
    return {"kind": kind, "id": item_id, "name": fields.get(_LABEL.get(kind, ""))}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "against", "added", "removed", "changed"],
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "against": {"type": "integer", "minimum": 0, "description": "0: the empty structure before any run"},
        "added": {"type": "array", "items": {"$ref": "#/components/schemas/DiffItem"}},
        "removed": {"type": "array", "items": {"$ref": "#/components/schemas/DiffItem"}},
        "changed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "id", "changes"],
                "properties": {
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "id": {"type": "string", "format": "uuid", "nullable": True},
                    "changes": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["before", "after"],
                            "properties": {"before": {}, "after": {}},
                        },
                    },
                },
            },
        },
    },
}
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "id", "name"],
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "id": {"type": "string", "format": "uuid", "nullable": True},
        "name": {"type": "string", "nullable": True, "description": "Its title (an exercise's description)"},
    },
}
