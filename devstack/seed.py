"""Seeding a made-up course structure through libs.store.structure, for tests and benchmarks (the agent
writes real ones)."""

from __future__ import annotations

import psycopg

from libs.store import structure


def seed_structure(
    conn: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    *,
    modules: int = 5,
    lessons: int = 4,
    concepts: int = 3,
    exercises: int = 2,
) -> None:
    """Replace the course's structure with ``modules x lessons x (concepts + exercises)``."""
    structure.replace(conn, tenant_id, course_id, made_up_structure(modules, lessons, concepts, exercises))


def made_up_structure(modules: int, lessons: int, concepts: int, exercises: int) -> list[dict]:
    """A plausible structure of the given shape, as :func:`libs.store.structure.replace` takes it."""
    return [
        {
            "title": f"Module {m + 1}",
            "description": f"What module {m + 1} covers, in a few sentences.",
            "learning_goal": f"Goal of module {m + 1}",
            "expected_knowledge": ["variables", "loops"],
            "expected_skills": ["write a loop"],
            "difficulty": ("easy", "medium", "hard")[m % 3],
            "lessons": [
                {
                    "title": f"Lesson {m + 1}.{n + 1}",
                    "video_start_timecode": f"00:{n * 10:02d}:00",
                    "video_end_timecode": f"00:{n * 10 + 9:02d}:59",
                    "slide_start": n * 5 + 1,
                    "slide_end": n * 5 + 5,
                    "concepts": [
                        {
                            "title": f"Concept {m + 1}.{n + 1}.{c + 1}",
                            "definition": "A definition long enough to look like the real thing, with a clause or two.",
                            "examples": ["first example", "second example"],
                            "timecodes": [f"00:{n * 10 + c:02d}:30"],
                            "slide_references": [n * 5 + c + 1],
                            "web_references": [{"url": "https://docs.python.org/3/", "title": "Python docs"}],
                        }
                        for c in range(concepts)
                    ],
                    "exercises": [
                        {
                            "description": f"Exercise {e + 1}: write a function that does it.",
                            "reference_solution": "def solve():\n    return 42\n",
                            "grading_criteria": "Correct result; readable names; handles edge cases.",
                            "difficulty": e % 5 + 1,
                        }
                        for e in range(exercises)
                    ],
                }
                for n in range(lessons)
            ],
        }
        for m in range(modules)
    ]
