"""The approval SLA ladder over HTTP: remind after 24h, escalate after 48h, expire at 72h.

The sweeper runs in-process with an injected ``now`` (the server and the test share the moto
runtime). The approvals module's clock is moved to the same instant, so that what the server
checks when a link is opened (its expiry) agrees with the time the sweeper was told.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.api.sweeper import sweep
from functions.shared import approvals
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalRecord, SweepReport, _parse_iso
from tests.api.conftest import Api

MANAGER = "sales-manager@stepwise.example"
LEAD_EMAIL = "dana.whitfield@northwind-freight.example"
HOUR = timedelta(hours=1)


class Clock:
    """The approvals service's notion of now, moved by the test (starts at the real time)."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def now(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moving = Clock()
    monkeypatch.setattr(approvals, "_now", moving.now)
    return moving


@pytest.fixture(autouse=True)
def _stop_parked_runs(api: Api) -> Iterator[None]:
    """Runs a test leaves waiting for a person are stopped, so no callback task outlives its test."""
    yield
    sfn = api.runtime.sfn
    for arn in api.runtime.state_machines.values():
        for item in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            with contextlib.suppress(Exception):  # best effort: moto cannot stop a run still starting
                sfn.stop_execution(executionArn=item["executionArn"], error="TestOver")


def _waiting_run(api: Api, payload: dict[str, Any]) -> tuple[str, ApprovalRecord]:
    started = api.start(payload)
    assert started.status == 202, started.text
    execution_id: str = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    return execution_id, record


def _sweep_at(clock: Clock, record: ApprovalRecord, age: timedelta) -> SweepReport:
    """Run the sweeper (and move the service's clock) to ``age`` after the approval was created."""
    clock.at = _parse_iso(record.created_at) + age
    return sweep(clock.at)


def _stored(api: Api, approval_id: str) -> ApprovalRecord:
    record = api.runtime.approvals().store.get(approval_id)
    assert record is not None
    return record


def _emails(api: Api, to: str | None = None) -> list[dict[str, Any]]:
    emails: list[dict[str, Any]] = api.request("GET", "/local/outbox").json()
    return [e for e in emails if to is None or e["to"] == to]


def _page(api: Api, approval_id: str, sig: str) -> Any:
    return api.request("GET", f"/approvals/{approval_id}?sig={sig}", client=None)


def _decide(api: Api, approval_id: str, sig: str, decision: str = "approve") -> Any:
    return api.request(
        "POST", f"/approvals/{approval_id}/decision", {"decision": decision, "sig": sig}, client=None
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _empty(report: SweepReport) -> bool:
    return not (report.reminded or report.escalated or report.expired)


def test_nothing_is_due_before_24_hours(api: Api, outreach: dict[str, Any], clock: Clock) -> None:
    # Given an approval just requested (one email so far: the request)
    _, record = _waiting_run(api, outreach)
    assert len(_emails(api)) == 1

    # When the sweeper runs at creation and one second before the reminder is due
    reports = [_sweep_at(clock, record, age) for age in (timedelta(0), 24 * HOUR - timedelta(seconds=1))]

    # Then it does nothing: no report, no email, no mark on the approval
    assert all(_empty(report) for report in reports)
    assert len(_emails(api)) == 1
    stored = _stored(api, record.approval_id)
    assert stored.status == "PENDING"
    assert stored.reminded_at is None
    assert stored.escalated_to is None


def test_after_24_hours_the_approver_is_reminded_once_with_the_same_working_link(
    api: Api, outreach: dict[str, Any], clock: Clock
) -> None:
    # Given an approval requested 24 hours ago and not decided
    execution_id, record = _waiting_run(api, outreach)
    ((approval_id, sig),) = api.links(to=outreach["approver_email"])

    # When the sweeper runs at 24h
    report = _sweep_at(clock, record, 24 * HOUR)

    # Then the approver gets one reminder carrying the same link, and the approval records it
    assert report.reminded == [record.approval_id]
    assert report.escalated == report.expired == []
    reminder = _emails(api, outreach["approver_email"])[-1]
    assert reminder["subject"].startswith("Reminder: ")
    assert api.links(to=outreach["approver_email"]) == [(approval_id, sig), (approval_id, sig)]
    assert _stored(api, approval_id).reminded_at == _iso(_parse_iso(record.created_at) + 24 * HOUR)
    # and the link still opens the page, which still decides nothing
    assert _page(api, approval_id, sig).status == 200
    assert _stored(api, approval_id).status == "PENDING"

    # When the sweeper runs again at 25h
    again = _sweep_at(clock, record, 25 * HOUR)

    # Then there is no second reminder (and no escalation yet)
    assert _empty(again)
    assert len(_emails(api, outreach["approver_email"])) == 2
    assert _emails(api, MANAGER) == []
    assert api.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"


def test_escalated_approver_decides_so_the_run_continues_and_records_the_manager(
    api: Api, outreach: dict[str, Any], clock: Clock
) -> None:
    # Given an approval that was reminded at 24h and is still undecided at 48h
    execution_id, record = _waiting_run(api, outreach)
    ((_, approver_sig),) = api.links(to=outreach["approver_email"])
    _sweep_at(clock, record, 24 * HOUR)

    # When the sweeper runs at 48h
    report = _sweep_at(clock, record, 48 * HOUR)

    # Then the sales manager gets an escalation email with a link of their own
    assert report.escalated == [record.approval_id]
    assert report.reminded == report.expired == []
    (escalation,) = _emails(api, MANAGER)
    assert outreach["approver_email"] in escalation["body"]  # says who has not decided
    ((approval_id, manager_sig),) = api.links(to=MANAGER)
    assert approval_id == record.approval_id
    assert manager_sig != approver_sig
    assert _stored(api, approval_id).escalated_to == MANAGER
    # and both links open the page (the original approver's keeps working until someone decides)
    manager_page = _page(api, approval_id, manager_sig)
    assert manager_page.status == 200
    assert f"for <b>{MANAGER}</b>" in manager_page.text
    assert _page(api, approval_id, approver_sig).status == 200
    # and a second sweep does not escalate again
    assert _empty(_sweep_at(clock, record, 50 * HOUR))
    assert len(_emails(api, MANAGER)) == 1

    # When the manager approves through their link
    decided = _decide(api, approval_id, manager_sig)

    # Then the decision is the manager's and the run sends the email
    assert decided.status == 200
    assert decided.json()["decidedBy"] == MANAGER
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["status"] == "sent"
    assert run["output"]["approved_by"] == MANAGER
    assert run["approvals"][0]["decided_by"] == MANAGER
    assert len(_emails(api, LEAD_EMAIL)) == 1
    # and the original approver's link can no longer decide
    assert _decide(api, approval_id, approver_sig, "reject").status == 409


def test_after_escalation_the_original_approver_can_still_decide(
    api: Api, outreach: dict[str, Any], clock: Clock
) -> None:
    # Given an approval escalated to the manager at 48h
    execution_id, record = _waiting_run(api, outreach)
    ((approval_id, approver_sig),) = api.links(to=outreach["approver_email"])
    _sweep_at(clock, record, 48 * HOUR)
    ((_, manager_sig),) = api.links(to=MANAGER)

    # When the original approver rejects through their own link
    decided = _decide(api, approval_id, approver_sig, "reject")

    # Then the decision is theirs and the run ends rejected, nothing sent
    assert decided.status == 200
    assert decided.json()["decidedBy"] == outreach["approver_email"]
    run = api.wait_for_end(execution_id)
    assert run["output"]["status"] == "rejected"
    assert _emails(api, LEAD_EMAIL) == []
    # and the manager's link now only shows the outcome and cannot decide
    assert _decide(api, approval_id, manager_sig).status == 409


def test_at_expiry_the_sweeper_rejects_by_default_and_every_link_dies(
    api: Api, outreach: dict[str, Any], clock: Clock
) -> None:
    # Given an approval that climbed the ladder (reminded, escalated) and is undecided
    execution_id, record = _waiting_run(api, outreach)
    _sweep_at(clock, record, 24 * HOUR)
    _sweep_at(clock, record, 48 * HOUR)
    links = sorted(set(api.links()))
    assert len(links) == 2  # the approver's link (request and reminder) and the manager's
    assert {approval_id for approval_id, _ in links} == {record.approval_id}

    # When the sweeper runs one second before expiry, Then nothing expires yet
    assert record.expires_at == _iso(_parse_iso(record.created_at) + 72 * HOUR)
    assert _sweep_at(clock, record, 72 * HOUR - timedelta(seconds=1)).expired == []
    assert _stored(api, record.approval_id).status == "PENDING"

    # When the sweeper runs at the expiry
    report = _sweep_at(clock, record, 72 * HOUR)

    # Then the approval expires, decided by the SLA
    assert report.expired == [record.approval_id]
    stored = _stored(api, record.approval_id)
    assert stored.status == "EXPIRED"
    assert stored.decided_by == "sla"
    # and the run ends as designed with "expired", having sent nothing to the lead
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["status"] == "expired"
    assert _emails(api, LEAD_EMAIL) == []
    kinds = [a.kind for a in get_crm().list_activities(outreach["lead_id"])]
    assert "approval_expired" in kinds
    assert "email_sent" not in kinds
    # and every link (approver's, manager's) is refused as expired, page and decision alike
    for approval_id, sig in links:
        page = _page(api, approval_id, sig)
        assert page.status == 403
        assert "expired" in page.json()["message"]
        assert _decide(api, approval_id, sig).status == 403
    # and a later sweep has nothing left to do
    assert _empty(_sweep_at(clock, record, 80 * HOUR))
