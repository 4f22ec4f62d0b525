"""POST /structure and the structure versions, at the agent's app: who may run the agent,
when, and what each run leaves behind."""

import dataclasses
from decimal import Decimal

import pytest

from libs.jobs import queue
from libs.store import courses
from services.agent import structure_versions
from tests.conftest import held_material, hold_job

NO_LLM = {
    "openai_api_key": None,
    "openai_base_url": None,
    "anthropic_api_key": None,
    "gemini_api_key": None,
    "deepseek_api_key": None,
}


@pytest.fixture
def llm_settings(settings):
    """Settings with an OpenAI-compatible server named (nothing is called at this layer)."""
    return dataclasses.replace(settings, openai_base_url="http://127.0.0.1:9/v1", openai_model="local")


@pytest.fixture
def agent(make_client, llm_settings):
    return make_client("agent", settings=llm_settings)


@pytest.fixture
def course(db, tenant) -> str:
    return str(courses.create(db, tenant.id, {"title": "Structured"})["id"])


def material(db, tenant, course: str, *, status: str) -> str:
    return held_material(db, tenant.id, course, status=status)


def run_url(course: str) -> str:
    return f"/api/v1/courses/{course}/structure"


def test_a_run_over_done_materials_is_queued_with_202_and_its_job(agent, prep, db, tenant, course):
    material(db, tenant, course, status="done")
    result = agent.simulate_post(run_url(course), headers=prep, json={"strategy": "budget"})
    assert result.status_code == 202, result.text
    job = queue.get(db, tenant.id, result.json["job_id"])
    assert (job["kind"], str(job["course_id"])) == ("generate_structure", course)
    assert result.headers["location"] == f"/api/v1/jobs/{result.json['job_id']}"
    # the strategy asked for is the one the worker will run
    payload = db.execute("SELECT payload FROM jobs WHERE id = %s", (result.json["job_id"],)).fetchone()[0]
    assert payload == {"strategy": "budget"}


@pytest.mark.parametrize("body", [None, {}])
def test_the_strategy_is_optional(agent, prep, db, tenant, course, body):
    material(db, tenant, course, status="done")
    result = agent.simulate_post(run_url(course), headers=prep, **({"json": body} if body is not None else {}))
    assert result.status_code == 202, result.text
    job_row = db.execute("SELECT payload FROM jobs WHERE id = %s", (result.json["job_id"],)).fetchone()
    assert job_row[0] == {"strategy": "default"}


def test_a_second_run_while_one_is_queued_or_running_is_409(agent, prep, db, tenant, course):
    material(db, tenant, course, status="done")
    with db.transaction():
        running = queue.enqueue(db, tenant.id, "generate_structure", course_id=course)
        hold_job(db, running)
    result = agent.simulate_post(run_url(course), headers=prep, json={})
    assert result.status_code == 409
    assert "already" in result.json["description"]


@pytest.mark.parametrize("statuses", [[], ["pending"], ["processing", "error"]])
def test_a_course_without_a_done_material_is_422(agent, prep, db, tenant, course, statuses):
    for status in statuses:
        material(db, tenant, course, status=status)
    result = agent.simulate_post(run_url(course), headers=prep, json={})
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "materials"


def test_without_an_llm_provider_the_run_is_503_naming_the_variables(make_client, settings, prep, db, tenant, course):
    material(db, tenant, course, status="done")
    client = make_client("agent", settings=dataclasses.replace(settings, **NO_LLM))
    result = client.simulate_post(run_url(course), headers=prep, json={})
    assert result.status_code == 503
    assert "OPENAI_API_KEY" in result.json["description"] and "ANTHROPIC_API_KEY" in result.json["description"]


@pytest.mark.parametrize("body", [{"strategy": "fast"}, {"strategy": 1}, {"mode": "x"}, []])
def test_a_bad_body_is_422_naming_the_field(agent, prep, course, body):
    result = agent.simulate_post(run_url(course), headers=prep, json=body)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] in ("strategy", "mode", "body")


def test_check_keys_cannot_run_the_agent_and_other_tenants_get_404(agent, tenant, other_tenant, db, course):
    material(db, tenant, course, status="done")
    check_only = {"X-API-Key": tenant.make_key(("check",)).secret}
    assert agent.simulate_post(run_url(course), headers=check_only, json={}).status_code == 403
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    assert agent.simulate_post(run_url(course), headers=intruder, json={}).status_code == 404


def test_versions_are_listed_oldest_first_and_each_keeps_its_document(agent, prep, db, tenant, course, other_tenant):
    for n in range(3):
        structure_versions.record(
            db,
            tenant.id,
            course,
            job_id=None,
            model="gpt-4o",
            cost_usd=Decimal("0.01"),
            counts={"modules": n + 1},
            document={"modules": [{"title": f"Module {n}"}]},
        )
    first = agent.simulate_get(f"{run_url(course)}/versions", headers=prep, params={"limit": 2}).json
    assert [v["version"] for v in first["items"]] == [1, 2] and first["total"] == 3
    rest = agent.simulate_get(
        f"{run_url(course)}/versions", headers=prep, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json
    assert [v["version"] for v in rest["items"]] == [3] and rest["next_cursor"] is None
    assert "document" not in first["items"][0]
    second = agent.simulate_get(f"{run_url(course)}/versions/2", headers=prep).json
    assert (second["counts"], second["document"]) == ({"modules": 2}, {"modules": [{"title": "Module 1"}]})
    assert agent.simulate_get(f"{run_url(course)}/versions/4", headers=prep).status_code == 404
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    assert agent.simulate_get(f"{run_url(course)}/versions/1", headers=intruder).status_code == 404
    assert agent.simulate_get(f"{run_url(course)}/versions", headers=intruder).status_code == 404


def test_a_version_recorded_before_ids_were_kept_cannot_be_restored(agent, prep, db, tenant, course):
    from decimal import Decimal

    from services.agent import structure_versions

    old = {"course": {}, "modules": [{"title": "A module from an older run", "lessons": []}]}
    with db.transaction():
        version = structure_versions.record(
            db, tenant.id, course, job_id=None, model="m", cost_usd=Decimal(0), counts={}, document=old
        )
    answer = agent.simulate_post(f"/api/v1/courses/{course}/structure/versions/{version}/restore", headers=prep)
    assert answer.status_code == 409
    assert "before structures kept their ids" in answer.json["description"]
