"""Scenario helpers: drive a run to its end, answering approvals like a person would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.ports.crm import Activity
from local.runtime import LocalRuntime, RunResult

Decider = Callable[[ApprovalRecord], Decision]


def approve(record: ApprovalRecord) -> Decision:
    return Decision(decision="approve", comment="looks good")


def reject(record: ApprovalRecord) -> Decision:
    return Decision(decision="reject", comment="too pushy for a first touch")


def drive(runtime: LocalRuntime, workflow: str, payload: dict[str, Any], decide: Decider | None) -> RunResult:
    """Start a run, answer each approval with ``decide``, return the finished run."""
    arn = runtime.start(workflow, payload)
    while pending := runtime.approvals_to_decide(arn):
        assert decide is not None, f"run is waiting for an approval: {pending}"
        for record in pending:
            runtime.decide(record, decide(record))
    return runtime.result(arn)


def states(result: RunResult) -> list[str]:
    return [row.state for row in result.timeline]


def row(result: RunResult, state: str) -> Any:
    matches = [r for r in result.timeline if r.state == state]
    assert matches, f"{state} not in {states(result)}"
    return matches[-1]


def activities(contact_id: str) -> list[Activity]:
    return get_crm().list_activities(contact_id)


def outreach_emails(runtime: LocalRuntime) -> list[dict[str, Any]]:
    """Emails sent to leads (not the approval requests sent to approvers)."""
    return [e for e in runtime.outbox() if not e["subject"].startswith("Approval needed")]


@pytest.fixture
def outreach_input() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8")
    )
    return loaded
