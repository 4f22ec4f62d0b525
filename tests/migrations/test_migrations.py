"""Migrations apply, roll back one by one to nothing, and apply again — on a scratch database
of the session's server, so the shared schema is not disturbed."""

import uuid
from dataclasses import replace

import psycopg
import pytest

from libs.platform.migrate import MIGRATIONS_DIR, apply, rollback, status


@pytest.fixture
def scratch(settings):
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin = replace(settings, postgres_db="postgres").postgres_conninfo
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield replace(settings, postgres_db=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def tables(settings) -> set[str]:
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT LIKE '\\_yoyo%%' AND tablename NOT LIKE 'yoyo%%'"
        ).fetchall()
    return {row[0] for row in rows}


def columns(settings, table: str) -> set[str]:
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
    return {row[0] for row in rows}


def functions(settings) -> set[str]:
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace").fetchall()
    return {row[0] for row in rows}


SCHEMA = {
    "tenants",
    "api_keys",
    "courses",
    "source_materials",
    "slide_video_mappings",
    "modules",
    "lessons",
    "concepts",
    "exercises",
    "llm_calls",
    "jobs",
    "document_chunks",
    "structure_versions",
    "submissions",
    "object_deletions",
    "structure_deletions",
    "condensed_summaries",
    "storage_reservations",
    "material_uploads",
    "idempotency_keys",
    "webhook_endpoints",
    "webhook_events",
    "webhook_deliveries",
    "job_turns",
}


def test_every_migration_has_a_rollback_file():
    forward = sorted(p for p in MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    assert forward
    for path in forward:
        assert path.with_name(path.stem + ".rollback.sql").exists(), path.name


def test_apply_creates_the_whole_schema(scratch):
    apply(scratch)
    assert tables(scratch) == SCHEMA
    migrations = status(scratch)
    assert migrations and all(applied for _, applied in migrations)


def test_apply_then_roll_back_all_then_apply_again(scratch):
    applied = apply(scratch)
    rolled_back = rollback(scratch, steps=None)
    assert rolled_back == list(reversed(applied))
    assert tables(scratch) == set()
    assert apply(scratch) == applied
    assert tables(scratch) == SCHEMA


def test_roll_back_one_step_undoes_only_the_newest(scratch):
    applied = apply(scratch)
    assert rollback(scratch) == [applied[-1]]
    assert [name for name, done in status(scratch) if not done] == [applied[-1]]
    assert tables(scratch) <= SCHEMA
    assert apply(scratch) == [applied[-1]]
    assert tables(scratch) == SCHEMA


def test_rolling_back_0006_brings_back_the_per_row_revision_trigger(scratch):
    applied = apply(scratch)
    rolled_back = rollback(scratch, steps=sum(name >= "0006" for name in applied))
    assert rolled_back[-1].startswith("0006")
    bumpers = {"bump_course_revision", "bump_course_revision_once"}
    assert functions(scratch) & bumpers == {"bump_course_revision"}
    apply(scratch)
    assert functions(scratch) & bumpers == {"bump_course_revision_once"}


def test_concepts_carry_a_pgvector_embedding(scratch):
    apply(scratch)
    with psycopg.connect(scratch.postgres_conninfo) as conn:
        kind = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'concepts'::regclass AND attname = 'embedding'"
        ).fetchone()
    assert kind == ("vector(1536)",)


def test_llm_calls_record_the_prompt_version(scratch):
    apply(scratch)
    assert "prompt_version" in columns(scratch, "llm_calls")
