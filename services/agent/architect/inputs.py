"""What a structure run depends on, as one fingerprint: two runs with the same fingerprint ask the
same models the same question, so the second would pay for the answer the first already gave.

It covers each done material's content (its row changes whenever its document is made again:
re-ingestion moves ``updated_at``), the slide mapping, the course's own fields, the structure as
it stands (so any edit of the author's counts) with what the author deleted, the prompts'
versions, the strategy and the models a run may reach with the providers configured now. It is
taken by the API before queueing a run, and by the run itself in the transaction that saves
it, after its own writes (a run sets the course's description and goal): an untouched course
then fingerprints the same on the next request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection

import psycopg

from libs.llm.registry import Registry
from libs.store import courses, materials, slide_mapping, structure
from services.agent.architect import agent, condense

ACTIONS = ("course_structuring", "text_processing", "embedding")


def reachable_models(registry: Registry, providers: Collection[str], strategy: str) -> list[str]:
    """The models a run with ``strategy`` may call, in order, with these providers configured
    (the router skips the others and falls back to the default chain)."""
    names = []
    for action in ACTIONS:
        for chain in dict.fromkeys((strategy, "default")):
            names += [
                f"{action}:{m.provider}/{m.name}" for m in registry.chain(action, chain) if m.provider in providers
            ]
    return names


def fingerprint(conn: psycopg.Connection, tenant_id: str, course_id: str, *, strategy: str, models: list[str]) -> str:
    """The fingerprint of a run of the course now (see the module docstring)."""
    course = courses.get(conn, tenant_id, course_id)
    done = [
        (str(m["id"]), m["updated_at"].isoformat())
        for m in materials.list_for_course(conn, tenant_id, course_id)
        if m["status"] == "done"
    ]
    inputs = {
        "course": {name: course[name] for name in (*courses.EDITABLE, *courses.STRUCTURE_FIELDS)},
        "materials": sorted(done),
        "slide_mapping": slide_mapping.list_pairs(conn, tenant_id, course_id),
        "structure": structure.read(conn, tenant_id, course_id),
        "deleted": sorted(structure.deleted_keys(conn, tenant_id, course_id)),
        "prompts": [agent.PROMPT, condense.PROMPT],
        "strategy": strategy,
        "models": models,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
