"""The fault matrix: every side-effecting step of every registered workflow, failed on purpose.

Parametrized over the registry (reversible and irreversible steps), not listed by hand. For each
scenario of ``scenarios.py`` one clean run (in a fresh runtime) is the baseline: its timeline says
which side-effecting steps the scenario reaches, and its world (``world.py``) is what "exactly one
side effect" must look like.

- Transient: every side-effecting step the scenario reaches fails once with
  ``TransientIntegrationError`` *after* its side effect happened (the at-least-once case), all in
  one run. Each recovers on attempt 2 and the world equals the baseline's. Approval requests fail
  *before* they run instead: a repeated callback Lambda is designed to send a new link that
  supersedes the first, so "after" would be a second email by design, not a bug.
- Permanent: each side-effecting step fails with ``PermanentIntegrationError`` (never retried),
  in its own run. The compensations that run are those of the steps that completed, in reverse
  order (all of them when nothing irreversible had happened yet), and the run ends FAILED with
  the error and a cause naming the state, or, inside a Map iteration, the batch survives it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pytest

from functions.registry import WORKFLOWS, StepKind, WorkflowSpec
from functions.shared import asl
from functions.shared.timeline import StepRun
from local.dispatch import function_name
from local.runtime import LocalRuntime, RunResult
from tests.asl_coverage import asl_files, graph_of
from tests.asl_paths import FlowGraph, matches
from tests.reliability.scenarios import PERMANENT, SCENARIOS, TRANSIENT, Scenario, callback_states, drive
from tests.reliability.world import world

pytestmark = pytest.mark.slow

SIDE_EFFECTS = (StepKind.REVERSIBLE, StepKind.IRREVERSIBLE)
UNTYPED_CRASH = "RuntimeError"  # what an unexpected exception in a handler is reported as


def distributed_only(workflow: WorkflowSpec) -> set[str]:
    """Steps that run only as a Distributed Map's child. Their runs are child executions, never rows
    of the parent's timeline, and they handle each item's failure in code (recorded in the batch's
    outcome file), so this matrix cannot drive them: the workflow's own scenarios do
    (``tests/workflows/test_no_show.py``: a failing item, a transient fault, a crash after the send,
    a batch that fails after its retries)."""
    graph = graph_of(workflow.asl_path)
    children = {
        name
        for name, scope in graph.scopes.items()
        if scope
        and (graph.definitions[scope.split("#", 1)[0]].get("ItemProcessor") or {})
        .get("ProcessorConfig", {})
        .get("Mode")
        == "DISTRIBUTED"
    }
    by_state = asl.state_steps(workflow)
    steps = {by_state[name].name for name in children if name in by_state}
    return steps - {by_state[name].name for name in by_state if name not in children}


STEPS = [
    (wf.name, step.name)
    for wf in WORKFLOWS.values()
    for step in wf.steps
    if step.kind in SIDE_EFFECTS and step.name not in distributed_only(wf)
]
ALL_SCENARIOS = [s for scenarios in SCENARIOS.values() for s in scenarios]


@dataclass
class Baseline:
    result: RunResult
    world: Counter[tuple[str, ...]]

    def steps(self) -> list[str]:
        return [row.step for row in self.result.timeline if row.step is not None]


_baselines: dict[str, Baseline] = {}


def baseline(scenario: Scenario) -> Baseline:
    """The clean run of a scenario, once per test process (each in its own fresh runtime)."""
    if str(scenario) not in _baselines:
        with LocalRuntime() as runtime:
            result = drive(runtime, scenario)
            _baselines[str(scenario)] = Baseline(result, world(runtime))
    return _baselines[str(scenario)]


def reaching(workflow: str, step: str) -> Scenario:
    for scenario in SCENARIOS[workflow]:
        if step in baseline(scenario).steps():
            return scenario
    raise AssertionError(f"no scenario of {workflow} reaches {step}: add one to scenarios.py")


def reaching_state(workflow: str, state: str) -> Scenario:
    for scenario in SCENARIOS[workflow]:
        if state in [row.state for row in baseline(scenario).result.timeline]:
            return scenario
    raise AssertionError(f"no scenario of {workflow} reaches {state}: add one to scenarios.py")


def catch_all_cases() -> list[tuple[str, str, int]]:
    """Every ``States.ALL`` catcher of a Task that ``PermanentIntegrationError`` does not reach
    (pure steps, compensations, and the catch-all after a side effect's specific catcher)."""
    cases = []
    for workflow in WORKFLOWS.values():
        steps, callbacks = asl.state_steps(workflow), callback_states(workflow)
        for name, state in asl.iter_states(asl.definition(workflow)["States"]):
            if state["Type"] != "Task" or name in callbacks:
                continue
            catchers = state.get("Catch", [])
            permanent = next(
                (i for i, c in enumerate(catchers) if matches(PERMANENT, c["ErrorEquals"])), None
            )
            for index, catcher in enumerate(catchers):
                side_effect = steps[name].kind in SIDE_EFFECTS
                if "States.ALL" in catcher["ErrorEquals"] and not (side_effect and index == permanent):
                    cases.append((workflow.name, name, index))
    return cases


CATCH_ALL = catch_all_cases()


def side_effecting(workflow: WorkflowSpec, steps: list[str]) -> list[str]:
    kinds = {s.name: s.kind for s in workflow.steps}
    return list(dict.fromkeys(s for s in steps if kinds[s] in SIDE_EFFECTS))


def approval_steps(workflow: WorkflowSpec) -> set[str]:
    by_state = asl.state_steps(workflow)
    return {by_state[state].name for state in callback_states(workflow)}


def test_every_workflow_has_scenarios_and_every_side_effecting_step_is_classified() -> None:
    assert set(SCENARIOS) == set(WORKFLOWS) == set(asl_files())
    for workflow in WORKFLOWS.values():
        assert SCENARIOS[workflow.name][0].name == "main"
        for step in workflow.steps:
            assert step.kind in StepKind, step.name
            if step.kind is StepKind.REVERSIBLE:
                assert step.compensation is not None, f"{workflow.name}.{step.name} names no compensation"


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=str)
def test_a_transient_fault_after_each_side_effect_recovers_on_the_second_attempt_with_one_effect(
    scenario: Scenario,
) -> None:
    # Given the scenario's clean run and the side-effecting steps it reaches
    clean = baseline(scenario)
    spec = scenario.spec
    base_faults = {step for step, _ in scenario.faults}
    faulted = [s for s in side_effecting(spec, clean.steps()) if s not in base_faults]
    assert faulted, f"{scenario} reaches no side-effecting step"
    approvals = approval_steps(spec)

    # When each of them fails once (after its effect; approval requests before)
    with LocalRuntime() as runtime:
        for step in faulted:
            runtime.dispatcher.inject(
                step, TRANSIENT, times=1, when="before" if step in approvals else "after"
            )
        result = drive(runtime, scenario)
        after = world(runtime)
        # and every irreversible invocation is replayed once more, as Lambda may deliver it again
        # (in runs that were not failed on purpose: there the compensations changed the world
        # the replay would read, which is not a duplicate delivery any more)
        replays = [
            (state, json.loads(output), json.loads(replay(runtime, spec, step, body)))
            for state, step, body, output in lambda_calls(runtime, result)
            if {s.name: s.kind for s in spec.steps}[step] is StepKind.IRREVERSIBLE and not scenario.faults
        ]
        after_replays = world(runtime)

    # Then each recovered on its second attempt (the first row that ran it; later rows once)
    for step in faulted:
        attempts = [row.attempts for row in result.timeline if row.step == step]
        assert attempts[0] == 2, f"{step}: attempts {attempts}"
        assert all(a == 1 for a in attempts[1:]), f"{step}: attempts {attempts}"
    # and the run ended like the clean one, leaving exactly the clean run's effects
    assert result.status == clean.result.status
    assert [r.state for r in result.timeline] == [r.state for r in clean.result.timeline]
    assert (result.output or {}).get("status") == (clean.result.output or {}).get("status")
    assert after - clean.world == Counter(), "effects the clean run did not have"
    assert clean.world - after == Counter(), "effects of the clean run that are missing"
    # and a replayed irreversible invocation returned its first result and did nothing again
    assert replays or scenario.faults, f"{scenario} replayed no irreversible step"
    for state, first, again in replays:
        assert again == first, f"{state}: replay answered {again}, first {first}"
    assert after_replays == after, "a replay caused a second side effect"


@pytest.mark.parametrize(("workflow", "state", "index"), CATCH_ALL, ids=[f"{w}.{s}" for w, s, _ in CATCH_ALL])
def test_an_unexpected_crash_takes_the_catch_all_path_and_the_run_ends(
    workflow: str, state: str, index: int
) -> None:
    # Given the first scenario whose run passes through the state
    scenario = reaching_state(workflow, state)
    catcher = dict(asl.iter_states(asl.definition(WORKFLOWS[workflow])["States"]))[state]["Catch"][index]

    # When the state's Lambda crashes with an error no retrier and no earlier catcher names
    with LocalRuntime() as runtime:
        runtime.dispatcher.inject(state, UNTYPED_CRASH, times=1)
        result = drive(runtime, scenario)

    # Then the crash was caught once, the run went to the catcher's target, and it ended
    names = [row.state for row in result.timeline]
    at = names.index(state)
    row = result.timeline[at]
    assert (row.status, row.error, row.attempts) == ("CAUGHT", UNTYPED_CRASH, 1), row
    assert names[at + 1] == catcher["Next"]
    assert result.status in {"SUCCEEDED", "FAILED"}
    if result.status == "FAILED":
        assert result.error
        assert result.cause


def lambda_calls(runtime: LocalRuntime, result: RunResult) -> list[tuple[str, str, str, str]]:
    """(state, step, input, output) of each successful Lambda invocation, from the history."""
    steps = {state: step.name for state, step in asl.state_steps(WORKFLOWS[workflow_of(result)]).items()}
    calls, state, sent = [], "", ""
    for event in runtime.history(result.execution_arn):
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "LambdaFunctionScheduled":
            sent = event["lambdaFunctionScheduledEventDetails"]["input"]
        elif event["type"] == "LambdaFunctionSucceeded" and state in steps:
            calls.append((state, steps[state], sent, event["lambdaFunctionSucceededEventDetails"]["output"]))
    return calls


def workflow_of(result: RunResult) -> str:
    machine = result.execution_arn.split(":execution:", 1)[1].split(":", 1)[0]
    return machine.removeprefix("stepwise-")


def replay(runtime: LocalRuntime, spec: WorkflowSpec, step: str, body: str) -> bytes:
    headers: dict[str, str] = {}
    answer = runtime.dispatcher.invoke(function_name(spec, spec.step(step)), body, headers)
    assert "x-amz-function-error" not in headers, answer
    return answer


@pytest.mark.parametrize(("workflow", "step"), STEPS, ids=[f"{w}.{s}" for w, s in STEPS])
def test_a_permanent_fault_compensates_in_reverse_order_and_fails_naming_the_state(
    workflow: str, step: str
) -> None:
    # Given the first scenario that reaches the step, and the state that runs it there
    scenario = reaching(workflow, step)
    spec = WORKFLOWS[workflow]
    kinds = {s.name: s for s in spec.steps}
    approvals = approval_steps(spec)

    # When the step fails permanently the first time it runs
    with LocalRuntime() as runtime:
        runtime.dispatcher.inject(step, PERMANENT, times=1)
        result = drive(runtime, scenario)

    # Then it was not retried
    rows = result.timeline
    at = next(i for i, row in enumerate(rows) if row.step == step)
    state = rows[at].state
    assert (rows[at].error, rows[at].attempts) == (PERMANENT, 1), rows[at]

    # and the compensations that ran undo completed steps, the latest first (the failed one first:
    # its write may have landed). Inside a Map only the failing iteration counts. Compensations
    # are conditional (they move only what this run set), so the ASL may also run one whose step
    # did nothing; those no-ops are not counted.
    graph = graph_of(asl_files()[workflow])
    first, last = iteration_window(graph, rows, at)
    done: list[str] = []  # reversible steps completed and not yet undone when the fault hit
    for row in rows[first:at]:
        if row.step is None or row.status != "SUCCEEDED":
            continue
        if kinds[row.step].kind is StepKind.REVERSIBLE and row.step not in approvals:
            done.append(row.step)  # (a decided approval has nothing left to cancel)
        elif kinds[row.step].kind is StepKind.COMPENSATION:
            undone = [s for s in done if kinds[s].compensation == row.step]
            if undone:
                done.remove(undone[-1])
    own = [step] if kinds[step].kind is StepKind.REVERSIBLE else []
    expected = [kinds[s].compensation for s in reversed(done + own)]
    ran = [row.step for row in rows[at + 1 : last] if row.kind == StepKind.COMPENSATION.value]
    undoing = [c for c in ran if c in expected]
    assert is_subsequence(undoing, expected), f"compensations {ran}, expected (in order) {expected}"
    irreversible_before = any(
        row.step is not None and kinds[row.step].kind is StepKind.IRREVERSIBLE for row in rows[first:at]
    )
    if not irreversible_before:
        assert undoing == expected, f"nothing irreversible had happened, yet {ran} lacks {expected}"

    # and the run ended FAILED with the error and a cause naming the state, or, for a state inside
    # a Map iteration, the iteration recorded it and the batch went on
    if graph.scopes[state]:
        assert result.status == "SUCCEEDED", (result.error, result.cause)
    else:
        assert result.status == "FAILED"
        base_faults = {s for s, _ in scenario.faults}
        named = [state] + [row.state for row in rows if row.step in base_faults]
        assert result.error == PERMANENT, (result.error, result.cause)
        assert result.cause is not None
        assert any(name in result.cause for name in named), result.cause


def iteration_window(graph: FlowGraph, rows: list[StepRun], at: int) -> tuple[int, int]:
    """Rows [first, last) of the run that belong to row ``at``'s scope: the whole run at the top
    level, the one Map iteration (from its first state to the next iteration) otherwise."""
    scope = graph.scopes[rows[at].state]
    if not scope:
        return 0, len(rows)
    container = graph.definitions[scope.split("#", 1)[0]]
    start_at = (container.get("ItemProcessor") or container.get("Iterator") or {})["StartAt"]
    first = max(i for i in range(at + 1) if rows[i].state == start_at)
    last = next(
        (
            i
            for i in range(at + 1, len(rows))
            if rows[i].state == start_at or graph.scopes.get(rows[i].state) != scope
        ),
        len(rows),
    )
    return first, last


def is_subsequence(items: list[str | None], of: list[str | None]) -> bool:
    remaining = iter(of)
    return all(any(item == candidate for candidate in remaining) for item in items)
