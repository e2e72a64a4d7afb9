"""``python -m local run``: exit codes and what a person reads in the terminal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from functions.registry import ROOT
from local.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_WAITING, main

EXAMPLE = ROOT / "examples" / "sales_outreach.json"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["run", "sales_outreach", *argv], out=out)
    return code, out.getvalue()


def test_approved_run_prints_the_timeline_and_the_output_and_exits_0() -> None:
    code, out = _run("--input", str(EXAMPLE), "--decision", "approve")
    assert code == EXIT_OK
    assert ": SUCCEEDED" in out
    for state in ("ValidateLead", "ResearchLead", "RequestApproval", "SendEmail", "LogActivity"):
        assert state in out
    assert '"status": "sent"' in out
    assert "outbox: 2 email(s)" in out


def test_edit_decision_sends_the_edited_text() -> None:
    code, out = _run("--input", str(EXAMPLE), "--decision", "edit")
    assert code == EXIT_OK
    assert "approved (with edits)" in out
    assert '"edited": true' in out


def test_rejected_run_is_a_designed_end_and_exits_0() -> None:
    code, out = _run("--input", str(EXAMPLE), "--decision", "reject", "--comment", "not now")
    assert code == EXIT_OK
    assert '"status": "rejected"' in out
    assert "RevertStatusAfterRejection" in out


def test_failed_run_names_the_step_and_the_cause_and_exits_1() -> None:
    code, out = _run(
        "--input", str(EXAMPLE), "--decision", "approve", "--fault", "send_email=PermanentIntegrationError"
    )
    assert code == EXIT_FAILED
    assert "run failed (SendEmail): PermanentIntegrationError: injected fault" in out
    assert "RecordFailure" in out


def test_run_without_a_decision_stops_at_the_approval_and_exits_3() -> None:
    code, out = _run("--input", str(EXAMPLE))
    assert code == EXIT_WAITING
    assert "/approvals/" in out
    assert "?sig=" in out


def test_invalid_input_is_one_clear_line_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(EXAMPLE.read_text()), "approver_email": "nope", "lead_id": ""}))
    process = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "local",
            "run",
            "sales_outreach",
            "--input",
            str(bad),
            "--decision",
            "approve",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert process.returncode == EXIT_INVALID
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "approver_email" in lines[0]
    assert "lead_id" in lines[0]


def test_unreadable_input_file_exits_2(tmp_path: Path) -> None:
    code, _ = _run("--input", str(tmp_path / "missing.json"))
    assert code == EXIT_INVALID


def test_malformed_fault_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "sales_outreach", "--input", str(EXAMPLE), "--fault", "send_email"])
    assert exited.value.code == 2
