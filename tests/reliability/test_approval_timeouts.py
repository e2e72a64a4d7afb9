"""An approval nobody answers: the callback task's ``TimeoutSeconds`` fires ``States.Timeout``.

For every approval state of every ASL file (found in the ASL, not listed here) the run is driven
to it, that one state's three-day timeout is shortened to seconds (``LocalRuntime.time_out``, a
moto patch), and the test checks what the ASL designs: the state is caught with
``States.Timeout``, the run continues at that catcher's target, the approved action (the state's
``Next``) never runs, no approval stays pending, and the run ends as designed (never stuck).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.registry import WORKFLOWS
from local.runtime import LocalRuntime
from tests.reliability.scenarios import SCENARIOS, Scenario, callback_states, catch_target, drive_to_timeout

pytestmark = pytest.mark.slow

#: The scenario whose path reaches a callback state, where it is not the workflow's main one.
REACHED_BY = {("law_firm_ops", "RequestConflictWaiver"): "conflict", ("referral", "ReviewMatch"): "unsure"}

CASES = [(workflow.name, state) for workflow in WORKFLOWS.values() for state in callback_states(workflow)]


def scenario_for(workflow: str, state: str) -> Scenario:
    name = REACHED_BY.get((workflow, state), "main")
    return next(s for s in SCENARIOS[workflow] if s.name == name)


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime() as local_runtime:
        yield local_runtime


def test_every_approval_state_catches_its_timeout() -> None:
    for workflow in WORKFLOWS.values():
        for name, state in callback_states(workflow).items():
            assert catch_target(state, "States.Timeout") is not None, f"{workflow.name}.{name}"


@pytest.mark.parametrize(("workflow", "state"), CASES, ids=[f"{w}.{s}" for w, s in CASES])
def test_an_unanswered_approval_times_out_into_its_catch_and_the_action_never_runs(
    runtime: LocalRuntime, workflow: str, state: str
) -> None:
    # Given a run driven to the approval state, whose deadline is shortened to two seconds
    definition = callback_states(WORKFLOWS[workflow])[state]
    runtime.time_out(state, after_s=2.0)

    # When nobody answers it
    result = drive_to_timeout(runtime, scenario_for(workflow, state), state)

    # Then the state was caught with States.Timeout (once: a timeout is not retried)
    names = [r.state for r in result.timeline]
    assert state in names, f"the scenario never reached {state}: {names}"
    timed_out = names.index(state)
    row = result.timeline[timed_out]
    assert (row.status, row.error, row.attempts) == ("CAUGHT", "States.Timeout", 1)
    # and the run went where the ASL's catcher says, never to the approved action
    assert names[timed_out + 1] == catch_target(definition, "States.Timeout")
    assert definition["Next"] not in names[timed_out + 1 :]
    # and it ended as designed, with no approval of this run left pending
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert runtime.pending_approvals(result.execution_arn.rsplit(":", 1)[-1]) == []
