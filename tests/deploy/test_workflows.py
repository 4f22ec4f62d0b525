"""The GitHub workflows: actionlint and the workflow JSON Schema pass, and each rejects a
planted mistake; the deploy job checks health, then smoke-tests when its secret is set."""

from __future__ import annotations

import yaml

from tests.deploy.tools import REPO, Venv, run

WORKFLOWS = REPO / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
# every workflow, so one added later is checked too
ALL = sorted(WORKFLOWS.glob("*.y*ml"))


def test_workflows_pass_actionlint(validators: Venv) -> None:
    result = run([validators.bin("actionlint"), *ALL])
    assert result.returncode == 0, result.output


def test_actionlint_rejects_an_action_on_the_removed_node20_runtime(validators: Venv, planted) -> None:
    bad = planted(CI, "actions/checkout@v5", "actions/checkout@v4")
    result = run([validators.bin("actionlint"), bad])
    assert result.returncode == 1, result.output
    assert 'runtime "node20" is deprecated' in result.output
    assert "actions/checkout@v4" in result.output


def test_workflows_match_the_github_workflow_schema(validators: Venv) -> None:
    result = run([validators.bin("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *ALL])
    assert result.returncode == 0, result.output


def test_workflow_schema_rejects_a_misspelt_job_key(validators: Venv, planted) -> None:
    bad = planted(DEPLOY, "timeout-minutes: 40", "timeout-minute: 40")
    result = run([validators.bin("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", bad])
    assert result.returncode == 1, result.output
    assert "'timeout-minute' was unexpected" in result.output


def _deploy_steps() -> list[dict]:
    return yaml.safe_load(DEPLOY.read_text())["jobs"]["deploy"]["steps"]


def _index(steps: list[dict], needle: str) -> int:
    found = [i for i, step in enumerate(steps) if needle in step.get("run", "")]
    assert len(found) == 1, f"one step should run {needle}, found {len(found)}"
    return found[0]


def test_deploy_checks_health_with_the_guides_figures_after_the_restart() -> None:
    steps = _deploy_steps()
    health = _index(steps, "deploy/wait-healthy.sh")
    # the script's defaults are the guide's 10 x 5 s (tests/deploy/test_wait_healthy.py): the
    # workflow must not override them
    assert "ATTEMPTS" not in str(steps[health]) and "INTERVAL" not in str(steps[health])
    restart = next(i for i, step in enumerate(steps) if "up -d" in step.get("with", {}).get("script", ""))
    assert restart < health


def test_deploy_smoke_tests_after_the_health_check_only_when_its_secret_is_set() -> None:
    workflow = yaml.safe_load(DEPLOY.read_text())
    steps = workflow["jobs"]["deploy"]["steps"]
    smoke = _index(steps, "scripts/smoke_test.sh")
    assert smoke > _index(steps, "deploy/wait-healthy.sh")
    assert workflow["jobs"]["deploy"]["env"]["SMOKE_TEST_API_KEY"] == "${{ secrets.SMOKE_TEST_API_KEY }}"
    assert steps[smoke]["if"] == "env.SMOKE_TEST_API_KEY != ''"
    assert (REPO / "scripts" / "smoke_test.sh").exists(), "the smoke test the workflow runs is missing"
