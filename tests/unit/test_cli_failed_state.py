"""The CLI names the state a run failed in, also when it is a Map and no Task reported an error."""

from __future__ import annotations

import io

from functions.shared.timeline import StepRun, StepStatus
from local.cli import EXIT_FAILED, report
from local.runtime import RunResult


def _row(state: str, status: StepStatus, *, type_: str = "Task", error: str | None = None) -> StepRun:
    return StepRun(state=state, type=type_, status=status, started_at="2026-12-03T08:00:00Z", error=error)


def test_a_failed_map_is_named_with_the_run_error_and_cause() -> None:
    # Given a run whose Map state failed (an oversized result) after its iterations succeeded
    result = RunResult(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:no_show:no_show-abc",
        status="FAILED",
        output=None,
        error="States.DataLimitExceeded",
        cause="The state/task returned a result with a size exceeding the maximum number of bytes.",
        timeline=[
            _row("CollectSignals", "SUCCEEDED"),
            _row("HandleEscalations", "FAILED", type_="Map"),
            _row("RequestManagerApproval", "SUCCEEDED"),
        ],
    )
    out = io.StringIO()

    # When the CLI reports it
    code = report(result, out, timeline=False)

    # Then it names the Map, the error and its cause, never "?"
    assert code == EXIT_FAILED
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith(
        "run failed (HandleEscalations): States.DataLimitExceeded: The state/task returned"
    )
    assert "(?)" not in out.getvalue()


def test_a_task_error_still_names_the_task_that_raised_it() -> None:
    # Given a Map whose iteration's Task failed with a typed error
    result = RunResult(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:no_show:no_show-def",
        status="FAILED",
        output=None,
        error="PermanentIntegrationError",
        cause='{"errorMessage": "calendar down"}',
        timeline=[
            _row("RequestConfirmations", "FAILED", type_="Map"),
            _row("SendConfirmationRequest", "FAILED", error="PermanentIntegrationError"),
        ],
    )
    out = io.StringIO()

    # Then the Task is named, with the cause's message
    report(result, out, timeline=False)
    assert "run failed (SendConfirmationRequest): PermanentIntegrationError: calendar down" in out.getvalue()
