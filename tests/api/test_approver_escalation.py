"""Escalation follows the approver directory's chain for the approver asked (issue #19).

The sweeper runs in-process with an injected ``now``; the approvals module's clock is moved to the
same instant (as in ``test_sla.py``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from functions.api.sweeper import sweep
from functions.registry import ROOT
from functions.shared import approvals
from functions.shared.approvals import _parse_iso
from functions.shared.aws import client
from functions.shared.config import settings
from tests.api.conftest import Api

START = "/workflows/referral/executions"
FINANCE_LEAD = "finance-lead@acme-demo.com"
CFO = "cfo@acme-demo.com"
STAGE_ESCALATION = "sales-manager@stepwise.example"  # the local stage's escalationApprover


@pytest.fixture
def referral() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    return loaded


def _emails(api: Api, to: str) -> list[dict[str, Any]]:
    emails: list[dict[str, Any]] = api.request("GET", "/local/outbox").json()
    return [e for e in emails if e["to"] == to]


def test_an_undecided_reward_escalates_to_its_tier_s_chain_not_the_stage_address(
    api: Api, referral: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a $150 credit waiting for the finance lead (the $500 tier, which escalates to the CFO)
    started = api.request("POST", START, {**referral, "reward_cents": 15_000})
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    assert record.approver == FINANCE_LEAD

    # When nobody decides for 48 hours and the sweeper runs
    at: datetime = _parse_iso(record.created_at) + timedelta(hours=48, seconds=1)
    monkeypatch.setattr(approvals, "_now", lambda: at)
    report = sweep(at)

    # Then the CFO gets the escalation with a link of their own, and the stage's address gets nothing
    assert report.escalated == [record.approval_id]
    (escalation,) = _emails(api, CFO)
    assert f"/approvals/{record.approval_id}?sig=" in escalation["body"]
    assert _emails(api, STAGE_ESCALATION) == []
    stored = api.runtime.approvals().store.get(record.approval_id)
    assert stored is not None
    assert stored.escalated_to == CFO
    api.runtime.sfn.stop_execution(
        executionArn=next(
            e["executionArn"]
            for e in api.runtime.sfn.list_executions(stateMachineArn=api.runtime.state_machines["referral"])[
                "executions"
            ]
            if e["executionArn"].endswith(execution_id)
        ),
        error="TestOver",
    )


def test_an_escalation_skips_the_requester_and_goes_to_the_next_address(
    api: Api, referral: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a $150 credit waiting for the finance lead, started by crm-sync (owner ops-lead@), whose
    # approval record remembers who asked
    started = api.request("POST", START, {**referral, "reward_cents": 15_000})
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    assert record.requested_by == "ops-lead@acme-demo.com"
    # ... and, as if the CFO's own integration had asked, the requester is the tier's escalation (CFO)
    client("dynamodb").update_item(
        TableName=settings().approvals_table,
        Key={"approval_id": {"S": record.approval_id}},
        UpdateExpression="SET requested_by = :cfo",
        ExpressionAttributeValues={":cfo": {"S": CFO}},
    )

    # When nobody decides for 48 hours and the sweeper runs
    at: datetime = _parse_iso(record.created_at) + timedelta(hours=48, seconds=1)
    monkeypatch.setattr(approvals, "_now", lambda: at)
    report = sweep(at)

    # Then the CFO gets nothing (they asked), and the stage's escalation address gets the link
    assert report.escalated == [record.approval_id]
    assert _emails(api, CFO) == []
    (escalation,) = _emails(api, STAGE_ESCALATION)
    assert f"/approvals/{record.approval_id}?sig=" in escalation["body"]
    stored = api.runtime.approvals().store.get(record.approval_id)
    assert stored is not None
    assert stored.escalated_to == STAGE_ESCALATION
    for item in api.runtime.sfn.list_executions(stateMachineArn=api.runtime.state_machines["referral"])[
        "executions"
    ]:
        if item["executionArn"].endswith(execution_id):
            api.runtime.sfn.stop_execution(executionArn=item["executionArn"], error="TestOver")
