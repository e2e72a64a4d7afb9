"""A person's path over HTTP, and the promise that the task token never leaves the backend."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.api.sweeper import sweep
from functions.shared.approvals import _parse_iso
from functions.shared.config import settings
from functions.shared.observability import logger
from tests.api.conftest import Api


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every record our Powertools logger writes (DEBUG, every run sampled) plus library logs at INFO."""
    monkeypatch.setenv("STEPWISE_LOG_SAMPLE_RATE", "1")
    settings.cache_clear()
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    logger.setLevel("DEBUG")
    with caplog.at_level(logging.INFO):
        yield buffer
        buffer.write("\n".join(record.getMessage() for record in caplog.records))
    logger.handlers.remove(capture)
    logger.setLevel("WARNING")
    settings.cache_clear()


def test_a_person_starts_a_run_follows_the_emailed_link_approves_and_sees_it_succeed(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run started over HTTP, the way curl would
    started = api.start(outreach)
    assert started.status == 202
    execution_id = started.json()["executionId"]
    api.wait_for_approval(execution_id)

    # When the approver opens the link from the email and approves on the page
    ((approval_id, sig),) = api.links(to=outreach["approver_email"])
    page = api.request("GET", f"/approvals/{approval_id}?sig={sig}", client=None)
    assert page.status == 200
    assert "Approve" in page.text
    decided = api.request(
        "POST",
        f"/approvals/{approval_id}/decision",
        {"decision": "approve", "sig": sig, "comment": "go"},
        client=None,
    )
    assert decided.status == 200

    # Then the run finishes, the email reached the lead, and the timeline shows every step
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["status"] == "sent"
    assert run["approvals"][0]["decided_by"] == outreach["approver_email"]
    assert [row["state"] for row in run["timeline"]][-2:] == ["SendEmail", "LogActivity"]
    emails = api.request("GET", "/local/outbox").json()
    assert [e["to"] for e in emails][-1] == "dana.whitfield@northwind-freight.example"
    assert all(set(e) == {"to", "subject", "body", "sentAt"} for e in emails)


def test_the_task_token_appears_in_no_response_email_record_or_log(
    api: Api, outreach: dict[str, Any], captured_logs: io.StringIO
) -> None:
    # Given runs that go through every path that touches a token: approve, reject, remind, escalate
    approved = api.start({**outreach, "lead_id": "L-100"}).json()["executionId"]
    rejected = api.start({**outreach, "lead_id": "L-200"}).json()["executionId"]
    for execution_id in (approved, rejected):
        api.wait_for_approval(execution_id)
    pending = {record.execution: record for record in api.runtime.pending_approvals()}
    created = _parse_iso(pending[approved].created_at)
    sweep(created + timedelta(hours=25))  # reminders
    sweep(created + timedelta(hours=49))  # escalations
    for execution_id, decision in ((approved, "approve"), (rejected, "reject")):
        record = pending[execution_id]
        sig = api.runtime.signed_link_signature(record)
        api.request("GET", f"/approvals/{record.approval_id}?sig={sig}", client=None)
        api.request(
            "POST",
            f"/approvals/{record.approval_id}/decision",
            {"decision": decision, "sig": sig},
            client=None,
        )
        api.wait_for_end(execution_id)
        api.request("GET", f"/executions/{execution_id}")
    api.request("GET", "/executions?workflow=sales_outreach")

    tokens = [_task_token(api, execution_id) for execution_id in (approved, rejected)]
    assert all(len(token) >= 16 for token in tokens)

    # Then no HTTP response, email, stored record (as shown) or log line contains any of them
    emails = json.dumps(api.request("GET", "/local/outbox").json())
    records = json.dumps([r.public_view() for r in api.runtime.approvals().store.for_execution(approved)])
    haystacks = {
        "responses": "\n".join(api.seen),
        "emails": emails,
        "records": records,
        "logs": captured_logs.getvalue(),
    }
    assert "approval_reminder" in emails or "Reminder" in emails  # the sweeps really sent mail
    assert "step succeeded" in haystacks["logs"]  # the logs really were captured
    for where, text in haystacks.items():
        for token in tokens:
            assert token not in text, f"task token found in {where}"


def _task_token(api: Api, execution_id: str) -> str:
    arn = (
        api.runtime.state_machines["sales_outreach"].replace(":stateMachine:", ":execution:")
        + f":{execution_id}"
    )
    for event in api.runtime.history(arn):
        if event["type"] == "TaskScheduled":
            token: str = json.loads(event["taskScheduledEventDetails"]["parameters"])["Payload"]["taskToken"]
            return token
    raise AssertionError("no callback task")
