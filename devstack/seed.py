"""Seeding a course structure directly in SQL, for tests and benchmarks (the agent writes
real ones)."""

from __future__ import annotations

import json

import psycopg


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
    with conn.transaction():
        conn.execute("DELETE FROM modules WHERE course_id = %s AND tenant_id = %s", (course_id, tenant_id))
        for m in range(modules):
            module_id = conn.execute(
                "INSERT INTO modules (tenant_id, course_id, position, title, description, learning_goal, "
                "expected_knowledge, expected_skills, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                (
                    tenant_id,
                    course_id,
                    m,
                    f"Module {m + 1}",
                    f"What module {m + 1} covers, in a few sentences.",
                    f"Goal of module {m + 1}",
                    ["variables", "loops"],
                    ["write a loop"],
                    ("easy", "medium", "hard")[m % 3],
                ),
            ).fetchone()[0]
            for n in range(lessons):
                lesson_id = conn.execute(
                    "INSERT INTO lessons (tenant_id, course_id, module_id, position, title, video_start_timecode, "
                    "video_end_timecode, slide_start, slide_end) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING id",
                    (
                        tenant_id,
                        course_id,
                        module_id,
                        n,
                        f"Lesson {m + 1}.{n + 1}",
                        f"00:{n * 10:02d}:00",
                        f"00:{n * 10 + 9:02d}:59",
                        n * 5 + 1,
                        n * 5 + 5,
                    ),
                ).fetchone()[0]
                for c in range(concepts):
                    conn.execute(
                        "INSERT INTO concepts (tenant_id, course_id, lesson_id, position, title, definition, "
                        "examples, timecodes, slide_references, web_references) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (
                            tenant_id,
                            course_id,
                            lesson_id,
                            c,
                            f"Concept {m + 1}.{n + 1}.{c + 1}",
                            "A definition long enough to look like the real thing, with a clause or two more.",
                            ["first example", "second example"],
                            [f"00:{n * 10 + c:02d}:30"],
                            [n * 5 + c + 1],
                            json.dumps([{"url": "https://docs.python.org/3/", "title": "Python docs"}]),
                        ),
                    )
                for e in range(exercises):
                    conn.execute(
                        "INSERT INTO exercises (tenant_id, course_id, lesson_id, position, description, "
                        "reference_solution, grading_criteria, difficulty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (
                            tenant_id,
                            course_id,
                            lesson_id,
                            e,
                            f"Exercise {e + 1}: write a function that does it.",
                            "def solve():\n    return 42\n",
                            "Correct result; readable names; handles edge cases.",
                            e % 5 + 1,
                        ),
                    )
