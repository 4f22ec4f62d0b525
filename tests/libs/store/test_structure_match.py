"""libs.store.structure_match: which new item is which current item (pure functions)."""

from __future__ import annotations

import copy
import uuid

from devstack.seed import made_up_structure
from libs.store.structure_match import assign


def with_ids(modules: list[dict]) -> list[dict]:
    """``modules`` as structure.read returns them: every item with an id."""
    current = copy.deepcopy(modules)
    for module in current:
        module["id"] = str(uuid.uuid4())
        for lesson in module["lessons"]:
            lesson["id"] = str(uuid.uuid4())
            for item in (*lesson["concepts"], *lesson["exercises"]):
                item["id"] = str(uuid.uuid4())
    return current


def ids_of(modules: list[dict], kind: str) -> list[str]:
    if kind == "modules":
        return [m["id"] for m in modules]
    lessons = [lesson for m in modules for lesson in m["lessons"]]
    return [lesson["id"] for lesson in lessons] if kind == "lessons" else [i["id"] for l in lessons for i in l[kind]]  # noqa: E741


def test_the_same_structure_keeps_every_id():
    new = made_up_structure(2, 3, 2, 1)
    current = with_ids(new)
    assignment = assign(current, new)
    for kind in ("modules", "lessons", "concepts", "exercises"):
        assert assignment.ids[kind] == ids_of(current, kind), kind
        assert assignment.removed[kind] == set()


def test_a_new_item_gets_a_new_id_and_a_missing_one_is_removed():
    current = with_ids(made_up_structure(1, 2, 1, 1))
    new = made_up_structure(1, 2, 1, 1)
    dropped = new[0]["lessons"].pop(0)
    # another title and other anchors: nothing says it is the dropped lesson
    elsewhere = {
        "video_start_timecode": "01:00:00",
        "video_end_timecode": "01:10:00",
        "slide_start": 90,
        "slide_end": 95,
    }
    new[0]["lessons"].append(
        {**dropped, **elsewhere, "title": "Something else entirely", "concepts": [], "exercises": []}
    )
    assignment = assign(current, new)
    kept, added = assignment.ids["lessons"]
    assert kept == current[0]["lessons"][1]["id"]
    assert added not in ids_of(current, "lessons")
    assert assignment.removed["lessons"] == {current[0]["lessons"][0]["id"]}


def test_a_slightly_reworded_title_under_the_same_parent_keeps_its_id():
    current = with_ids(made_up_structure(1, 1, 2, 0))
    new = made_up_structure(1, 1, 2, 0)
    new[0]["lessons"][0]["concepts"][1]["title"] = "Concept 1.1.2 (revised)"
    assert assign(current, new).ids["concepts"] == ids_of(current, "concepts")


def test_a_lesson_moved_to_another_module_keeps_its_id():
    current = with_ids(made_up_structure(2, 2, 1, 1))
    new = made_up_structure(2, 2, 1, 1)
    moved = new[0]["lessons"].pop(1)
    new[1]["lessons"].insert(0, moved)
    assignment = assign(current, new)
    assert current[0]["lessons"][1]["id"] in assignment.ids["lessons"]
    assert assignment.removed["lessons"] == set()


def test_a_renamed_lesson_is_known_by_its_video_range():
    current = with_ids(made_up_structure(1, 2, 1, 0))
    new = made_up_structure(1, 2, 1, 0)
    new[0]["lessons"][1]["title"] = "A wholly new name"
    assert assign(current, new).ids["lessons"] == ids_of(current, "lessons")


def test_a_different_text_in_the_same_place_is_a_different_item():
    current = with_ids(made_up_structure(1, 1, 1, 1))
    new = made_up_structure(1, 1, 1, 1)
    new[0]["lessons"][0]["exercises"][0]["description"] = "Build a compiler from scratch."
    assignment = assign(current, new)
    assert assignment.ids["exercises"] != ids_of(current, "exercises")
    assert assignment.removed["exercises"] == set(ids_of(current, "exercises"))
