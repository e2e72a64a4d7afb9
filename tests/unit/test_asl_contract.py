"""Every ASL file against the step registry and the error taxonomy (the design's contracts)."""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import pytest

from functions.registry import RESOURCE_PLACEHOLDERS, WORKFLOWS, StepKind, WorkflowSpec
from functions.shared import asl
from functions.shared.config import StepwiseSettings
from functions.shared.errors import ERROR_NAMES, POWERTOOLS_ERROR_NAMES

WORKFLOW_LIST = list(WORKFLOWS.values())
BUILTIN_PREFIXES = ("States.", "Lambda.")


def _tasks(workflow: WorkflowSpec) -> list[tuple[str, dict[str, Any]]]:
    return [(n, s) for n, s in asl.iter_states(asl.definition(workflow)["States"]) if s["Type"] == "Task"]


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_every_placeholder_is_a_registered_step_and_every_step_is_used(workflow: WorkflowSpec) -> None:
    used = asl.placeholders(workflow.asl_path.read_text(encoding="utf-8"))
    registered = {step.placeholder for step in workflow.steps}
    assert used - registered - set(RESOURCE_PLACEHOLDERS) == set(), (
        "ASL names Lambdas that are not registered"
    )
    assert registered - used == set(), "registered steps that the ASL never invokes"


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_rendering_leaves_no_placeholder_and_refuses_a_missing_one(workflow: WorkflowSpec) -> None:
    text = workflow.asl_path.read_text(encoding="utf-8")
    substitutions = {
        step.placeholder: f"arn:aws:lambda:us-east-1:1:function:{step.name}" for step in workflow.steps
    } | {name: "stepwise-files" for name in RESOURCE_PLACEHOLDERS if f"${{{name}}}" in text}
    assert asl.placeholders(asl.render(text, substitutions)) == set()
    substitutions.popitem()
    with pytest.raises(KeyError, match="no substitution"):
        asl.render(text, substitutions)


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_every_error_name_is_a_typed_error_or_a_builtin(workflow: WorkflowSpec) -> None:
    names = set()
    for _, state in asl.iter_states(asl.definition(workflow)["States"]):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            names.update(rule["ErrorEquals"])
    known = ERROR_NAMES | POWERTOOLS_ERROR_NAMES
    unknown = {n for n in names if n not in known and not n.startswith(BUILTIN_PREFIXES)}
    assert unknown == set()


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_retries_are_bounded_jittered_and_never_catch_all(workflow: WorkflowSpec) -> None:
    for name, state in _tasks(workflow):
        assert state.get("Retry"), f"{name} has no Retry"
        for rule in state["Retry"]:
            assert "States.ALL" not in rule["ErrorEquals"], f"{name} retries every error, business ones too"
            assert "BusinessRuleError" not in rule["ErrorEquals"], f"{name} retries a business rule"
            assert 1 <= rule["MaxAttempts"] <= 6, f"{name}: MaxAttempts {rule['MaxAttempts']}"
            if rule["MaxAttempts"] > 1:
                assert rule.get("JitterStrategy") == "FULL", f"{name}: backoff without jitter {rule}"
                assert rule.get("BackoffRate", 1) >= 2, f"{name}: no exponential backoff {rule}"


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_irreversible_steps_are_idempotent_and_wait_for_an_overlapping_invocation(
    workflow: WorkflowSpec,
) -> None:
    idempotent_calls = ("run_once(", "record_outcome(", "send_approved_draft(")  # the last two wrap run_once
    for step in workflow.steps:
        if step.kind is StepKind.IRREVERSIBLE:
            source = inspect.getsource(importlib.import_module(step.module))
            assert any(call in source for call in idempotent_calls), (
                f"{step.name} is irreversible but not run_once"
            )
    steps = asl.state_steps(workflow)
    for name, state in _tasks(workflow):
        retried = {e for rule in state.get("Retry", []) for e in rule["ErrorEquals"]}
        if steps[name].kind is StepKind.IRREVERSIBLE:
            assert "IdempotencyAlreadyInProgressError" in retried, (
                f"{name} fails while its first try may be sending"
            )
        if steps[name].name == "request_approval":
            # A repeated callback Lambda would email a second link: retry only what did not run.
            assert "Lambda.Unknown" not in retried, name


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_callback_tasks_have_a_deadline_the_approval_link_does_not_outlive(workflow: WorkflowSpec) -> None:
    for name, state in _tasks(workflow):
        if state["Resource"].endswith(".waitForTaskToken"):
            # Nothing sends heartbeats yet (the SLA sweeper, issue #4): a heartbeat would expire every
            # approval early. The link's expiry must not outlive the task's deadline.
            assert "HeartbeatSeconds" not in state, name
            assert 0 < StepwiseSettings().approval_ttl_seconds <= state["TimeoutSeconds"], name
            caught = {e for rule in state.get("Catch", []) for e in rule["ErrorEquals"]}
            assert {"States.Timeout", "ApprovalRejected"} <= caught, name
            assert "$$.Task.Token" in json.dumps(state["Parameters"]), name


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_every_reversible_step_names_a_compensation_the_flow_runs(workflow: WorkflowSpec) -> None:
    invoked = {step.name for step in asl.state_steps(workflow).values()}
    for step in workflow.steps:
        if step.kind is StepKind.REVERSIBLE:
            assert step.compensation is not None, step.name
            assert workflow.step(step.compensation).kind is StepKind.COMPENSATION
            assert step.compensation in invoked, f"{step.compensation} is never run"
        else:
            assert step.compensation is None, step.name


@pytest.mark.parametrize("workflow", WORKFLOW_LIST, ids=lambda w: w.name)
def test_every_task_sends_the_standard_envelope(workflow: WorkflowSpec) -> None:
    for name, state in _tasks(workflow):
        params = state["Parameters"].get("Payload", state["Parameters"])
        assert params["execution.$"] == "$$.Execution.Name", name
        assert params["state.$"] == "$$.State.Name", name
        assert params["attempt.$"] == "$$.State.RetryCount", name
