"""The reliability scenarios that fit make test's budget, against the session's stack (the
full set runs against the local stack with make test-reliability)."""

import pytest

from tests.reliability.harness import Context
from tests.reliability.scenarios import SCENARIOS, Scenario, run_scenario


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.in_make_test], ids=lambda s: s.name)
def test_scenario_passes_with_the_stack_whole_afterwards(faults, scenario: Scenario):
    context = Context(faults, quick=True)
    report = run_scenario(scenario, context)
    print(report.line())
    # whatever the scenario found, it gave back what it stopped: every process behind the
    # gateway sees the stack whole again before the next test starts (raises otherwise)
    context.wait_healthy(timeout=30)
    assert report.passed, report.line()
