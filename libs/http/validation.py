"""Request contracts declared once: small field tables that both validate input and describe
it as JSON Schema for the OpenAPI document, so the two cannot drift apart.

Every problem is collected, so a 422 names each bad field at once, by its path
(``mappings[2].video_timecode``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import falcon

from libs.errors import Invalid

PG_INT_MAX = 2**31 - 1
# A JSON Schema pattern for "no NUL anywhere" (PostgreSQL text cannot hold one) and for "some
# character that is not whitespace"; ECMA and Python regexes read both alike. Whitespace is
# spelled out as what str.strip() removes (str.isspace), not `\s`: each dialect's `\s` is a
# different set (ECMA's lacks U+001C-U+001F and U+0085 but has U+FEFF, Python's with re.ASCII
# is six characters), so a published `\s` allowed values that Text.check refuses as blank.
_WHITESPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _text_pattern(forbidden: str, *, not_blank: bool) -> str:
    """The published pattern of a text: no NUL nor ``forbidden`` character, and when
    ``not_blank`` one character at least that is not whitespace."""
    banned = "\\u0000" + re.escape(forbidden)
    return rf"^[^{banned}]*[^{banned}{_WHITESPACE}][^{banned}]*$" if not_blank else rf"^[^{banned}]*$"


# A UUID's text form, for ids that arrive in a body or a query (paths have Falcon's converter).
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Text:
    """A string: at most ``max_length`` characters, no NUL, valid Unicode; ``min_length=1``
    means "not blank" (whitespace alone does not count)."""

    max_length: int
    required: bool = False
    nullable: bool = False
    min_length: int = 0
    pattern: str | None = None  # matched whole; keep it free of NUL and of look-arounds
    pattern_hint: str = ""
    description: str | None = None
    format: str | None = None  # OpenAPI's name for what the value is (an opaque "cursor", …)
    # characters the value may not hold besides NUL (a path segment's "/", say); the schema's
    # pattern says it too
    forbidden: str = ""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.format:
            schema["format"] = self.format
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern})$"
        else:
            schema["pattern"] = _text_pattern(self.forbidden, not_blank=bool(self.min_length))
        return _finish(schema, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if not isinstance(value, str):
            problems.append((path, "must be a string"))
        elif "\x00" in value:
            problems.append((path, "must not contain NUL characters"))
        elif forbidden := sorted({c for c in value if c in self.forbidden}):
            problems.append((path, f"must not contain {' or '.join(repr(c) for c in forbidden)}"))
        elif not _is_unicode(value):
            problems.append((path, "must be valid Unicode text (it holds a lone surrogate)"))
        elif len(value) > self.max_length:
            problems.append((path, f"must be at most {self.max_length} characters"))
        elif len(value.strip()) < self.min_length:
            shortest = "must not be empty" if self.min_length == 1 else f"must be at least {self.min_length} characters"
            problems.append((path, shortest))
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            problems.append((path, f"must be {self.pattern_hint}"))
        return value

    def parse(self, raw: str) -> Any:
        return raw


@dataclass(frozen=True)
class Integer:
    minimum: int = -PG_INT_MAX - 1
    maximum: int = PG_INT_MAX
    required: bool = False
    nullable: bool = False
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        return _finish({"type": "integer", "minimum": self.minimum, "maximum": self.maximum}, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((path, "must be an integer"))
        elif not self.minimum <= value <= self.maximum:
            problems.append((path, f"must be between {self.minimum} and {self.maximum}"))
        return value

    def parse(self, raw: str) -> Any:
        # at most 12 characters: int() of thousands of digits is slow, and none is in range
        if len(raw) > 12 or not re.fullmatch(r"-?[0-9]+", raw):
            return raw  # check() then names the problem
        return int(raw)


@dataclass(frozen=True)
class Choice:
    """One of a fixed vocabulary of strings."""

    options: tuple[str, ...]
    required: bool = False
    nullable: bool = False
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        return _finish({"type": "string", "enum": list(self.options)}, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if not isinstance(value, str) or value not in self.options:
            problems.append((path, f"must be one of {', '.join(self.options)}"))
        return value

    def parse(self, raw: str) -> Any:
        return raw


@dataclass(frozen=True)
class Boolean:
    """``true`` or ``false`` (JSON's own; neither 0/1 nor a string)."""

    required: bool = False
    nullable: bool = False
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        return _finish({"type": "boolean"}, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if not isinstance(value, bool):
            problems.append((path, "must be true or false"))
        return value

    def parse(self, raw: str) -> Any:
        # anything else stays text, and check() names the problem
        return {"true": True, "false": False}.get(raw, raw)


@dataclass(frozen=True)
class Day:
    """A calendar day, ``YYYY-MM-DD``."""

    required: bool = False
    nullable: bool = False
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        return _finish({"type": "string", "format": "date"}, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if isinstance(value, date):
            return value
        try:
            if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            problems.append((path, "must be a date YYYY-MM-DD between 0001-01-01 and 9999-12-31"))
            return None

    def parse(self, raw: str) -> Any:
        return raw


@dataclass(frozen=True)
class Object:
    """A JSON object of known ``fields``; unknown ones are refused."""

    fields: Mapping[str, Field]
    required: bool = False
    nullable: bool = False
    min_properties: int = 0
    max_properties: int | None = None
    description: str | None = None

    def schema(self, *, require: bool = True) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: spec.schema() for name, spec in self.fields.items()},
        }
        needed = [name for name, spec in self.fields.items() if spec.required] if require else []
        if needed:
            schema["required"] = needed
        if self.min_properties:
            schema["minProperties"] = self.min_properties
        if self.max_properties is not None:
            schema["maxProperties"] = self.max_properties
        return _finish(schema, self)

    def check(self, path: str, value: Any, problems: Problems, *, require: bool = True) -> Any:
        if not isinstance(value, dict):
            problems.append((path or "body", "must be a JSON object"))
            return {}
        prefix = f"{path}." if path else ""
        result: dict[str, Any] = {}
        for name in value:
            if name not in self.fields:
                problems.append((f"{prefix}{name}", "unknown field"))
        for name, spec in self.fields.items():
            if name in value:
                result[name] = check(f"{prefix}{name}", value[name], spec, problems)
            elif require and spec.required:
                problems.append((f"{prefix}{name}", "required"))
        if len(value) < self.min_properties and not problems:
            problems.append((path or "body", f"give at least one of {', '.join(self.fields)}"))
        if self.max_properties is not None and len(value) > self.max_properties and not problems:
            problems.append((path or "body", f"give at most {self.max_properties} of {', '.join(self.fields)}"))
        return result


@dataclass(frozen=True)
class Array:
    """A JSON list of ``items``; ``unique=True`` refuses an item equal to an earlier one."""

    items: Field
    min_items: int = 0
    max_items: int = 10_000
    unique: bool = False
    required: bool = False
    nullable: bool = False
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        schema = {"type": "array", "items": self.items.schema(), "maxItems": self.max_items}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.unique:
            schema["uniqueItems"] = True
        return _finish(schema, self)

    def check(self, path: str, value: Any, problems: Problems) -> Any:
        if not isinstance(value, list) or not self.min_items <= len(value) <= self.max_items:
            problems.append((path, f"must be a list of {self.min_items} to {self.max_items} items"))
            return []
        checked = [check(f"{path}[{index}]", item, self.items, problems) for index, item in enumerate(value)]
        if self.unique:
            seen: set[str] = set()
            for index, item in enumerate(value):
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    problems.append((f"{path}[{index}]", "duplicates an earlier item"))
                seen.add(key)
        return checked


Field = Text | Integer | Choice | Boolean | Day | Object | Array


def _finish(schema: dict[str, Any], spec: Any) -> dict[str, Any]:
    if spec.nullable:
        schema["nullable"] = True
    if spec.description:
        schema["description"] = spec.description
    return schema


def _is_unicode(value: str) -> bool:
    """False when the string holds a lone UTF-16 surrogate (JSON's ``"\\ud800"``), which no
    UTF-8 encoder, PostgreSQL's included, accepts."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check(path: str, value: Any, spec: Field, problems: Problems) -> Any:
    """Validate one value against its field, appending ``(path, message)`` problems."""
    if value is None:
        if not spec.nullable:
            problems.append((path, "must not be null"))
        return None
    return spec.check(path, value, problems)


def raise_problems(problems: Problems) -> None:
    """Raise one :class:`Invalid` naming every problem, if there are any."""
    if problems:
        raise Invalid.of(problems)


def validate(body: Any, schema: Object, *, require: bool = True) -> dict[str, Any]:
    """The body's known fields, or :class:`Invalid` naming every problem. ``require=False``
    (PATCH) ignores ``required``."""
    problems: Problems = []
    result = schema.check("", body, problems, require=require)
    raise_problems(problems)
    return result


def query(req: falcon.Request, fields: Mapping[str, Field]) -> dict[str, Any]:
    """The request's query parameters declared in ``fields`` (absent ones are left out), or
    :class:`Invalid` naming every problem. Undeclared parameters are ignored, as is usual."""
    problems: Problems = []
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        raw = req.get_param(name)
        if raw is None:
            if spec.required:
                problems.append((name, "required"))
            continue
        values[name] = check(name, spec.parse(raw), spec, problems)
    raise_problems(problems)
    return values


def query_parameters(fields: Mapping[str, Field]) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` that describe ``fields`` as query parameters."""
    parameters = []
    for name, spec in fields.items():
        schema = spec.schema()
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": spec.required, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        parameters.append(parameter)
    return parameters


def json_body(req: falcon.Request) -> Any:
    """The request's JSON body; 400 when it is missing or not JSON, 415 for other types."""
    if req.content_type is None or not req.content_type.split(";")[0].strip().endswith("json"):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description="Send the body as application/json."
        )
    return req.get_media()


def uuid_text(what: str, *, required: bool = False) -> Text:
    """A field holding the id of ``what`` (a course, a module…) in a body or a query."""
    return Text(
        max_length=36, required=required, pattern=UUID_PATTERN, pattern_hint=f"a {what} id (UUID)", format="uuid"
    )
