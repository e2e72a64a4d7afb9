"""``python -m local``: what a newcomer meets on a first try of each workflow (#21)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from functions.registry import ROOT, WORKFLOWS
from functions.shared.timeline import StepRun
from local.cli import EXIT_INVALID, EXIT_OK, format_timeline, main, waits_for_people
from local.runtime import RunResult

EXAMPLES = ROOT / "examples"
APPROVING = sorted(name for name in WORKFLOWS if waits_for_people(name))
NOT_APPROVING = sorted(name for name in WORKFLOWS if not waits_for_people(name))


def _run(workflow: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["run", workflow, "--input", str(EXAMPLES / f"{workflow}.json"), *argv], out=out)
    return code, out.getvalue()


def test_the_workflows_are_split_by_whether_their_asl_waits_for_a_person() -> None:
    assert "sales_outreach" in APPROVING
    assert "law_firm_ops" in APPROVING
    assert NOT_APPROVING == ["no_show_reply"]


@pytest.mark.parametrize("decision", ["edit", "reject"])
@pytest.mark.parametrize("workflow", APPROVING)
def test_every_workflow_answered_from_the_cli_ends_without_a_crash(workflow: str, decision: str) -> None:
    # When a newcomer runs a workflow's example, answering every approval with --decision
    code, out = _run(workflow, "--decision", decision)

    # Then the run ends (no step failed, nothing left waiting)
    assert code == EXIT_OK, out
    assert ": SUCCEEDED" in out
    assert "Traceback" not in out


def test_edit_in_law_firm_ops_edits_the_letter_and_approves_the_time_entries_as_drafted() -> None:
    # When the law firm's example is run with --decision edit
    code, out = _run("law_firm_ops", "--decision", "edit")

    # Then the letter goes out edited, and the table is posted as drafted (no FinalizeEntries error)
    assert code == EXIT_OK, out
    assert "approved (with edits)" in out
    assert "RequestEntriesApproval: not free text, approved unedited" in out
    assert "InvalidInputError" not in out


def test_reject_without_a_comment_gives_a_neutral_reason_not_a_sales_one() -> None:
    code, out = _run("law_firm_ops", "--decision", "reject")
    assert code == EXIT_OK, out
    assert "lead" not in out.lower()


@pytest.mark.parametrize("decision", ["approve", "reject", "edit"])
def test_a_decision_for_a_workflow_without_approvals_is_a_usage_error(
    decision: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a newcomer passes --decision to a workflow that never asks a person
    code, out = _run("no_show_reply", "--decision", decision)

    # Then nothing runs, and one line says why
    assert code == EXIT_INVALID
    assert out == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no_show_reply has no approval step: --decision does not apply"]


def test_the_same_workflow_without_a_decision_still_runs() -> None:
    code, out = _run("no_show_reply")
    assert code == EXIT_OK, out
    assert ": SUCCEEDED" in out


def test_a_rejection_without_a_comment_prints_the_error_alone() -> None:
    row = StepRun(
        state="RequestApproval",
        type="Task",
        status="FAILED",
        started_at="2026-01-05T09:00:00+00:00",
        error="ApprovalRejected",
        cause="",
    )
    line = format_timeline([row]).splitlines()[1]
    assert line.rstrip().endswith("ApprovalRejected")


def test_a_failed_run_with_no_cause_prints_the_error_alone() -> None:
    from local.cli import report

    result = RunResult(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:m:run-1",
        status="FAILED",
        timeline=[],
        output=None,
        error="ApprovalRejected",
        cause=None,
    )
    out = io.StringIO()
    report(result, out)
    assert "ApprovalRejected" in out.getvalue()
    assert "ApprovalRejected:" not in out.getvalue()


def test_the_demo_shows_the_email_claude_drafted_for_the_approved_run() -> None:
    out = io.StringIO()
    assert main(["demo"], out=out) == EXIT_OK
    text = out.getvalue()
    approved = text.split("=== sales_outreach 2.")[0]
    sent = [
        line
        for line in approved.splitlines()
        if line.strip().startswith("the email Claude drafted, as sent to")
    ]
    assert len(sent) == 1
    assert "sales-lead@acme-demo.com" not in sent[0]  # the lead's email, not the approval request
    subject = approved.split("Subject: ", 1)[1].splitlines()[0]
    assert subject.strip()
    assert f"{subject}" in text.split("=== outbox")[1]  # the same email SES 'sent'


def _bad_input(tmp_path: Path, payload: Any) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_a_wrong_email_reads_as_not_a_valid_email_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = json.loads((EXAMPLES / "sales_outreach.json").read_text(encoding="utf-8"))
    path = _bad_input(tmp_path, {**example, "approver_email": "dana-at-example"})
    code = main(["run", "sales_outreach", "--input", str(path), "--decision", "approve"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == EXIT_INVALID
    assert "approver_email: not a valid email address" in err
    assert "pattern" not in err
    assert "^" not in err


def test_a_json_array_as_input_reads_as_must_be_a_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_input(tmp_path, [{"lead_id": "L-100"}])
    code = main(["run", "sales_outreach", "--input", str(path), "--decision", "approve"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == EXIT_INVALID
    assert "(body): must be a JSON object" in err
    assert "OutreachRequest" not in err
