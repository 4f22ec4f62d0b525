"""Validating JSON bodies and query parameters against small declarative schemas.

Every problem is collected, so a 422 names each bad field at once, by its path
(``mappings[2].video_timecode``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from libs.errors import Invalid

PG_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Text:
    max_length: int
    required: bool = False
    nullable: bool = False
    min_length: int = 0
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""


@dataclass(frozen=True)
class Integer:
    minimum: int = -PG_INT_MAX - 1
    maximum: int = PG_INT_MAX
    required: bool = False
    nullable: bool = False


Field = Text | Integer


def _check(path: str, value: Any, field: Field, problems: list[str]) -> Any:
    if value is None:
        if not field.nullable:
            problems.append(f"{path}: must not be null")
        return None
    if isinstance(field, Text):
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string")
        elif "\x00" in value:
            problems.append(f"{path}: must not contain NUL characters")
        elif len(value) > field.max_length:
            problems.append(f"{path}: must be at most {field.max_length} characters")
        elif len(value.strip()) < field.min_length:
            problems.append(
                f"{path}: must not be empty"
                if field.min_length == 1
                else f"{path}: must be at least {field.min_length} characters"
            )
        elif field.pattern is not None and not field.pattern.fullmatch(value):
            problems.append(f"{path}: must be {field.pattern_hint}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{path}: must be an integer")
    elif not field.minimum <= value <= field.maximum:
        problems.append(f"{path}: must be between {field.minimum} and {field.maximum}")
    return value


def check_object(
    body: Any, schema: Mapping[str, Field], problems: list[str], *, path: str = "", require: bool = True
) -> dict[str, Any]:
    """Validate ``body`` against ``schema``, appending problems; return the known fields.
    ``require=False`` (PATCH) ignores ``required``."""
    prefix = f"{path}." if path else ""
    if not isinstance(body, dict):
        problems.append(f"{path or 'body'}: must be a JSON object")
        return {}
    result: dict[str, Any] = {}
    for name in body:
        if name not in schema:
            problems.append(f"{prefix}{name}: unknown field")
    for name, field in schema.items():
        if name in body:
            result[name] = _check(f"{prefix}{name}", body[name], field, problems)
        elif require and field.required:
            problems.append(f"{prefix}{name}: required")
    return result


def raise_problems(problems: list[str]) -> None:
    if problems:
        raise Invalid(
            "; ".join(problems[:50]) + ("; …" if len(problems) > 50 else ""), field=problems[0].split(":", 1)[0]
        )


def validate(body: Any, schema: Mapping[str, Field], *, require: bool = True) -> dict[str, Any]:
    problems: list[str] = []
    result = check_object(body, schema, problems, require=require)
    raise_problems(problems)
    return result


def json_body(req: falcon.Request) -> Any:
    """The request's JSON body; 400 when it is missing or not JSON, 415 for other types."""
    if req.content_type is None or not req.content_type.split(";")[0].strip().endswith("json"):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description="Send the body as application/json."
        )
    return req.get_media()


def int_param(req: falcon.Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name}: must be an integer between {minimum} and {maximum}", field=name) from None
    if not minimum <= value <= maximum:
        raise Invalid(f"{name}: must be an integer between {minimum} and {maximum}", field=name)
    return value
