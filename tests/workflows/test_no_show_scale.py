"""A 10,000-appointment day on the real ASL (Distributed Maps) and handlers: what stays flat in N.

The calendar is loaded in bulk (``batch_write_item``, the adapter's own items) with 40% of the
bookings carrying notes (read by the offline model) and about 20% high risk; the manager approves
the one digest. The parent history and the largest state payload are read from the execution
history itself (the local runtime does not enforce Step Functions' limits yet).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from functions.shared.adapters import get_crm
from functions.shared.adapters.dynamodb_calendar import event_item
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.offline import offline_model
from functions.shared.ports.calendar import CalendarEvent
from functions.shared.ports.crm import Contact
from local.runtime import LocalRuntime
from tests.workflows.conftest import approve

DAY, OWNER = "2027-03-09", "dr.scale@stepwise.example"
MANAGER = "frontdesk-manager@acme-demo.com"
N, CONTACTS = int(os.environ.get("STEPWISE_NO_SHOW_SCALE_N", "10000")), 1_000
#: Step Functions' hard limits are 25,000 events and 256 KiB; the design keeps far below both.
MAX_PARENT_EVENTS, MAX_PAYLOAD_BYTES = 200, 64 * 1024
#: How long the test waits for each phase of the run (it is slow locally: see the README).
WAIT_S = 1800.0


def seed_day(n: int, contacts: int) -> None:
    """``n`` appointments of ``contacts`` clients; every 5th client has two past no-shows (high risk)."""
    crm = get_crm()
    for c in range(contacts):
        crm.put_contact(
            Contact(contact_id=f"SC-{c}", email=f"client{c}@clients.example", name=f"Client {c}", company="-")
        )
    events = []
    for c in range(contacts):
        if c % 5 == 0:  # two past no-shows and a long lead time: about 20% of the day is high risk
            events += [
                CalendarEvent(
                    event_id=f"SC-PAST-{c}-{k}",
                    owner=OWNER,
                    title="Visit",
                    starts_at=f"2027-0{k + 1}-10T09:00:00Z",
                    ends_at=f"2027-0{k + 1}-10T09:30:00Z",
                    kind="appointment",
                    contact_id=f"SC-{c}",
                    status="no_show",
                )
                for k in range(2)
            ]
    for i in range(n):
        minute = i % 600
        events.append(
            CalendarEvent(
                event_id=f"SC-APT-{i:05d}",
                owner=OWNER,
                title="Consultation",
                starts_at=f"{DAY}T{8 + minute // 60:02d}:{minute % 60:02d}:00Z",
                ends_at=f"{DAY}T{8 + minute // 60:02d}:{minute % 60:02d}:30Z",
                kind="appointment",
                contact_id=f"SC-{i % contacts}",
                booked_at="2027-01-20T10:00:00Z",
                notes="Asked twice about parking; prefers mornings." if i % 5 < 2 else None,  # 40%
            )
        )
    ddb, table = client("dynamodb"), settings().calendar_table
    for start in range(0, len(events), 25):
        chunk = [{"PutRequest": {"Item": event_item(e)}} for e in events[start : start + 25]]
        ddb.batch_write_item(RequestItems={table: chunk})


def largest_payload(history: list[dict[str, Any]]) -> int:
    sizes = [
        len(details[field].encode())
        for event in history
        for key, details in event.items()
        if key.endswith("EventDetails") and isinstance(details, dict)
        for field in ("input", "output")
        if isinstance(details.get(field), str)
    ]
    return max(sizes)


@pytest.mark.slow
def test_a_10000_appointment_day_succeeds_with_a_flat_history_and_small_state(runtime: LocalRuntime) -> None:
    # Given a day of 10,000 appointments, 40% with notes, about 20% high risk
    seed_day(N, CONTACTS)

    # When the day runs and the manager approves the one digest
    request = {"day": DAY, "owner": OWNER, "manager_email": MANAGER, "risk_threshold": 0.6}
    arn = runtime.start("no_show", request)
    (digest,) = runtime.approvals_to_decide(arn, timeout_s=WAIT_S)
    runtime.decide(digest, approve(digest))
    runtime.wait(arn, timeout_s=WAIT_S)
    result = runtime.result(arn)

    # Then it SUCCEEDED and every appointment has an outcome
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    out = result.output
    assert out is not None
    assert out["appointments"] == N
    assert out["escalated"] == N // 5  # every 5th client, whose appointments are every 5th of the day
    assert out["actions_applied"] == out["escalated"]
    assert out["confirmation_requested"] == N - out["escalated"]
    assert out["failed"] == 0
    assert out["model_calls"] == N * 2 // 5  # 40% with notes, each read once
    # and the parent history and the largest state payload stay flat, far inside the limits
    history = runtime.history(result.execution_arn)
    assert len(history) < MAX_PARENT_EVENTS, len(history)
    assert largest_payload(history) < MAX_PAYLOAD_BYTES
    assert len(json.dumps(out)) < 2048
    # and the manager got one approval request and one task list; each client one request per booking
    outbox = runtime.outbox()
    assert sum(1 for e in outbox if e["subject"].startswith("Approval needed")) == 1
    assert sum(1 for e in outbox if e["subject"].startswith("Task:")) == 1
    assert (
        sum(1 for e in outbox if e["subject"].startswith("Please confirm")) == out["confirmation_requested"]
    )
    assert len(offline_model().requests) == out["model_calls"]
