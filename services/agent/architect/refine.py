"""What a refine asks and how its answer joins the structure: the part of the course the author
named (all of it, one module or one lesson), in the form a run answers in, and the refined part
spliced back, checked like a run's answer, with everything outside it as it was."""

from __future__ import annotations

import copy
from typing import Any

from libs.store.structure import RUN_FIELDS
from services.agent.architect import schema
from services.agent.architect.check import Checked, check
from services.agent.architect.references import References

_COURSE_FIELDS = ("title", "description", "learning_goal", "expected_knowledge", "expected_skills")


def as_answer(course: dict[str, Any], modules: list[dict[str, Any]]) -> dict[str, Any]:
    """The course and its structure (as :func:`libs.store.structure.read` gives them) in the
    form of a run's answer, every field the schema asks for, and each item's ``id`` (which the
    model is not shown: :func:`schema_and_part`), so what a refine leaves alone keeps its id."""

    def fields(kind: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(item["id"]), **{name: item.get(name) for name in RUN_FIELDS[kind]}}

    return {
        "course": {name: course.get(name) or ([] if name.startswith("expected") else None) for name in _COURSE_FIELDS},
        "modules": [
            {
                **fields("modules", module),
                "lessons": [
                    {
                        **fields("lessons", lesson),
                        "concepts": [fields("concepts", c) for c in lesson["concepts"]],
                        "exercises": [fields("exercises", e) for e in lesson["exercises"]],
                    }
                    for lesson in module["lessons"]
                ],
            }
            for module in modules
        ],
    }


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _without_ids(item) for name, item in value.items() if name != "id"}
    if isinstance(value, list):
        return [_without_ids(item) for item in value]
    return value


def schema_and_part(current: dict[str, Any], target: tuple) -> tuple[dict[str, Any], Any]:
    """The JSON Schema the answer must meet and the part of ``current`` the model is shown."""
    if not target:
        return schema.STRUCTURE, _without_ids(current)
    if target[0] == "module":
        part = current["modules"][target[1]]
        return {"title": "module_refinement", **schema.obj({"module": schema.MODULE})}, _without_ids(part)
    part = current["modules"][target[1]]["lessons"][target[2]]
    return {"title": "lesson_refinement", **schema.obj({"lesson": schema.LESSON})}, _without_ids(part)


def splice(current: dict[str, Any], target: tuple, answer: dict[str, Any], known: References) -> Checked:
    """The whole structure after the refine: the refined part checked against ``known`` (the
    references of the materials it was refined from) and put in its place; the rest, and the
    course's fields unless the whole course was refined, as they were."""
    if not target:
        return check(answer, known)
    whole = copy.deepcopy(current)
    if target[0] == "module":
        part = check({"course": {}, "modules": [answer["module"]]}, known)
        # the refined module is the module it was, whatever it is called now
        modules = [{**module, "id": whole["modules"][target[1]]["id"]} for module in part.modules]
        whole["modules"][target[1] : target[1] + 1] = modules
    else:
        holder = {**whole["modules"][target[1]], "lessons": [answer["lesson"]]}
        part = check({"course": {}, "modules": [holder]}, known)
        was = whole["modules"][target[1]]["lessons"][target[2]]["id"]
        lessons = [{**lesson, "id": was} for lesson in (part.modules[0]["lessons"] if part.modules else [])]
        whole["modules"][target[1]]["lessons"][target[2] : target[2] + 1] = lessons
    return Checked(current["course"], whole["modules"], part.dropped)
