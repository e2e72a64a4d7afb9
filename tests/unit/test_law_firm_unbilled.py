"""GatherUnbilled on its own: what counts as unbilled, and what is said about items it cannot propose."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.law_firm_ops.gather_unbilled import GatherInput, gather_unbilled
from functions.law_firm_ops.models import (
    MAX_PROPOSED_ENTRIES,
    BillingSetup,
    ClientIdentity,
    MatterRecord,
    SentLetterRef,
    Unbilled,
)
from functions.law_firm_ops.record_onboarded import OnboardedInput, record_onboarded
from functions.shared.adapters.memory import InMemoryBilling, InMemoryCalendar, InMemoryCrm
from functions.shared.ports.calendar import CalendarEvent
from functions.shared.step_handler import StepContext

ATTORNEY = "jordan.avery@acme-demo.com"
IDENTITY = ClientIdentity(
    client_id="C-1", existed=True, previous_status="client", name="Elena Ruiz", email="elena@ruiz.example"
)
CTX = StepContext(
    workflow="law_firm_ops", step="gather_unbilled", state="GatherUnbilled", execution="run-1", attempt=0
)


def test_more_uncovered_items_than_a_proposal_holds_are_counted_not_dropped_silently() -> None:
    # Given eleven past consultations of the client with the attorney, none of them billed
    calendar = InMemoryCalendar()
    for day in range(1, 12):
        calendar.put_event(
            CalendarEvent(
                event_id=f"EV-{day:02d}",
                owner=ATTORNEY,
                title=f"Consultation {day}",
                starts_at=f"2025-06-{day:02d}T10:00:00Z",
                ends_at=f"2025-06-{day:02d}T10:30:00Z",
                kind="call",
                contact_id="C-1",
                client_id="C-1",
                status="confirmed",
            )
        )

    # When the unbilled work is gathered
    unbilled = gather_unbilled(
        GatherInput(identity=IDENTITY, attorney_email=ATTORNEY),
        calendar=calendar,
        crm=InMemoryCrm(),
        billing=InMemoryBilling(),
        ctx=CTX,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )

    # Then the oldest eight go to the proposal and the other three are counted as left out
    assert unbilled.count == MAX_PROPOSED_ENTRIES
    assert [i.source_id for i in unbilled.items] == [f"EV-{d:02d}" for d in range(1, 9)]
    assert unbilled.left_out == 3


def test_the_onboarded_outcome_says_how_many_unbilled_items_were_not_proposed(
    moto_aws: None,
) -> None:
    # Given a run that proposed nothing it could post, with three unbilled items left out
    crm = InMemoryCrm()
    payload = OnboardedInput(
        identity=IDENTITY,
        matter_record=MatterRecord(matter_id="M-1", client_id="C-1", stage="open", title="Contract matter"),
        letter_sent=SentLetterRef(
            message_id="m-1",
            to="elena@ruiz.example",
            subject="Engagement",
            body_sha256="0" * 64,
            sent_at="2026-01-01",
        ),
        billing=BillingSetup(
            client_id="C-1",
            matter_id="M-1",
            rate_cents=42500,
            invoice_id="I-1",
            amount_cents=1,
            status="open",
        ),
        unbilled=Unbilled(count=0, items=[], covered=[], left_out=3),
    )

    # When the run records the onboarding
    outcome = record_onboarded(payload, crm=crm, ctx=CTX.model_copy(update={"state": "RecordOnboarded"}))

    # Then its detail tells the attorney there is more to review
    assert "3 more unbilled item(s) were not proposed" in outcome.detail
