"""The redrive emulation's rules, and its behaviour on a Map, without the workflows' Lambdas."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from local import patches, redrive
from local.runtime import LocalRuntime

NOW = datetime.datetime(2026, 12, 8, 12, 0, tzinfo=datetime.UTC)

DEFINITION = json.dumps(
    {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": ["a", "b", "c"], "ResultPath": "$.items", "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "redrives.$": "$$.Execution.RedriveCount"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "FirstAttempt",
                    "States": {
                        "FirstAttempt": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.redrives", "NumericEquals": 0, "Next": "Broken"}],
                            "Default": "Handled",
                        },
                        "Broken": {"Type": "Fail", "Error": "Outage", "Cause": "the first attempt fails"},
                        "Handled": {"Type": "Pass", "End": True},
                    },
                },
                "ResultPath": "$.handled",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
)


def execution(status: str, *, stopped: datetime.timedelta | None = None, events: int = 10) -> Any:
    history = [{"id": i + 1, "type": "PassStateEntered"} for i in range(events)]
    return SimpleNamespace(
        sm_type="STANDARD",
        exec_status=status,
        stop_date=NOW - stopped if stopped is not None else None,
        exec_worker=SimpleNamespace(
            env=SimpleNamespace(event_manager=SimpleNamespace(get_event_history=lambda: history))
        ),
    )


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_an_unsuccessful_standard_run_of_the_last_14_days_is_redrivable(status: str) -> None:
    assert redrive.not_redrivable_reason(execution(status, stopped=datetime.timedelta(days=13)), NOW) is None


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (execution("SUCCEEDED"), "Execution is SUCCEEDED and cannot be redriven."),
        (execution("RUNNING"), "Execution is RUNNING and cannot be redriven."),
        (
            execution("FAILED", stopped=datetime.timedelta(days=14, seconds=1)),
            "Execution redrivable period exceeded.",
        ),
        (execution("FAILED", events=25_000), "Execution history event limit exceeded."),
    ],
    ids=["succeeded", "running", "older-than-14-days", "history-full"],
)
def test_other_runs_are_not_redrivable_with_aws_reason(run: Any, reason: str) -> None:
    assert redrive.not_redrivable_reason(run, NOW) == reason


def test_an_express_run_is_not_redrivable() -> None:
    express = execution("FAILED")
    express.sm_type = "EXPRESS"
    assert (
        redrive.not_redrivable_reason(express, NOW) == "Execution is of type EXPRESS and cannot be redriven."
    )


def entered(name: str, state_input: Any) -> dict[str, Any]:
    return {
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": name, "input": json.dumps(state_input)},
    }


def exited(name: str) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


def test_the_restart_point_is_the_last_top_level_state_that_never_exited() -> None:
    # Given Prepare exited, then Each entered and a state inside the Map entered and exited
    events = [
        entered("Prepare", {"a": 1}),
        exited("Prepare"),
        entered("Each", {"b": 2}),
        entered("Handled", {}),
        exited("Handled"),
    ]

    # Then the redrive restarts the Map state, with the input it was entered with
    assert redrive.restart_point(DEFINITION, events, {"x": 0}) == redrive.Restart("Each", {"b": 2})


def test_a_run_that_never_entered_a_state_restarts_at_the_start_with_its_input() -> None:
    assert redrive.restart_point(DEFINITION, [], {"x": 0}) == redrive.Restart("Prepare", {"x": 0})


def test_the_moto_internal_the_hook_patches_still_exists() -> None:
    assert callable(patches.resolve(redrive.RESPONSE_CLASS).describe_execution)


@pytest.mark.slow
def test_a_failed_map_is_run_again_and_the_states_before_it_are_not(runtime: LocalRuntime) -> None:
    # Given a run whose Map fails on its first attempt (its items fail while RedriveCount is 0)
    machine = runtime.sfn.create_state_machine(
        name="redrive-map", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/x", type="STANDARD"
    )["stateMachineArn"]
    arn = runtime.sfn.start_execution(stateMachineArn=machine, name="map-run", input="{}")["executionArn"]
    assert runtime.wait(arn)["status"] == "FAILED"

    # When it is redriven
    runtime.sfn.redrive_execution(executionArn=arn)
    described = runtime.wait(arn)

    # Then the Map ran again with its original input and succeeded; Prepare ran once
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["handled"] == [{"item": i, "redrives": 1} for i in "abc"]
    events = runtime.history(arn)
    names = Counter(e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e)
    assert names["Prepare"] == 1
    assert names["Each"] == 2
    assert described["redriveCount"] == 1
