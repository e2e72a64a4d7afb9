"""The step timeline of one execution, built from its Step Functions history.

Step Functions (and moto) emit no per-step summary, so the API, the CLI and the console all
derive it here from ``GetExecutionHistory``: one row per state entered, with attempts (each
Lambda scheduling), the last error, duration, and whether the state is a compensation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

StepStatus = Literal["SUCCEEDED", "FAILED", "CAUGHT", "RUNNING", "WAITING"]

_SCHEDULED = {"LambdaFunctionScheduled", "TaskScheduled"}
#: A Task's failure events and the key of their details (whose ``error`` names the ASL error).
TASK_FAILURE_EVENTS = {
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "LambdaFunctionScheduleFailed": "lambdaFunctionScheduleFailedEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    # A Distributed Map whose failed children passed its tolerated threshold (the Map's own error)
    "MapRunFailed": "mapRunFailedEventDetails",
}
_SUCCEEDED = {"LambdaFunctionSucceeded", "TaskSucceeded"}
#: The events that end an attempt of the run; a redriven run's history goes on after one of them.
_RUN_ENDED = {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


class StepRun(BaseModel):
    state: str
    type: str
    step: str | None = None  # registry step, for Task states
    kind: str | None = None  # pure / reversible / irreversible / compensation
    status: StepStatus
    started_at: str
    duration_ms: float | None = None
    attempts: int = 0
    error: str | None = None
    cause: str | None = None


def _ms(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() * 1000, 1)


def build_timeline(
    events: list[dict[str, Any]],
    steps: dict[str, tuple[str, str]] | None = None,
    execution_status: str = "RUNNING",
) -> list[StepRun]:
    """``steps`` maps state name → (step name, kind), from :func:`functions.shared.asl.state_steps`."""
    steps = steps or {}
    rows: list[StepRun] = []
    open_rows: dict[
        str, tuple[StepRun, datetime, bool]
    ] = {}  # state → (row, entered at, last attempt failed)
    current: str | None = None
    for event in sorted(events, key=lambda e: e["id"]):
        kind: str = event["type"]
        when: datetime = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            step, step_kind = steps.get(name, (None, None))
            row = StepRun(
                state=name,
                type=kind.removesuffix("StateEntered"),
                step=step,
                kind=step_kind,
                status="FAILED" if kind == "FailStateEntered" else "RUNNING",
                started_at=when.isoformat(),
            )
            if kind in {"FailStateEntered", "SucceedStateEntered"}:
                row.duration_ms = 0.0
            rows.append(row)
            open_rows[name] = (row, when, False)
            current = name
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in open_rows:
                row, entered, last_failed = open_rows.pop(name)
                row.duration_ms = _ms(entered, when)
                row.status = "CAUGHT" if last_failed else "SUCCEEDED"
        elif kind in _RUN_ENDED:
            # The run stopped here (a redrive goes on in the same history): its open states failed.
            _close_as_failed(open_rows)
        elif current in open_rows:
            row, entered, last_failed = open_rows[current]
            if kind in _SCHEDULED:
                row.attempts += 1
            elif kind in TASK_FAILURE_EVENTS:
                details = event.get(TASK_FAILURE_EVENTS[kind], {})
                row.error, row.cause = details.get("error"), details.get("cause")
                open_rows[current] = (row, entered, True)
            elif kind in _SUCCEEDED:
                open_rows[current] = (row, entered, False)
            elif kind == "TaskSubmitted":
                row.status = "WAITING"  # a callback task: the Lambda ran, the token is out
    if execution_status != "RUNNING":
        # A state still open when the run ended is where it failed (uncaught error or timeout).
        _close_as_failed(open_rows)
    return rows


def _close_as_failed(open_rows: dict[str, tuple[StepRun, datetime, bool]]) -> None:
    for row, _, _ in open_rows.values():
        row.status = "FAILED"
    open_rows.clear()
