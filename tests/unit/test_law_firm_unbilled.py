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
    UnbilledItem,
)
from functions.law_firm_ops.record_onboarded import OnboardedInput, record_onboarded
from functions.shared.adapters.memory import InMemoryBilling, InMemoryCalendar, InMemoryCrm
from functions.shared.ports.billing import TimeEntry
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


def onboarded(unbilled: Unbilled | None) -> OnboardedInput:
    """A run at RecordOnboarded that posted nothing (no approval asked, none refused)."""
    return OnboardedInput(
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
        unbilled=unbilled,
    )


def item(day: int) -> UnbilledItem:
    return UnbilledItem(
        source_id=f"EV-{day:03d}", kind="event", date=f"2025-06-{day:02d}", title="call: x", max_minutes=30
    )


def test_a_client_with_a_long_history_adds_counts_to_the_state_not_ids(moto_aws: None) -> None:
    # Given 300 past consultations of the client, 290 of them already billed (one entry each)
    calendar, billing = InMemoryCalendar(), InMemoryBilling()
    for n in range(300):
        day = f"2024-{1 + n // 28:02d}-{1 + n % 28:02d}"
        calendar.put_event(
            CalendarEvent(
                event_id=f"EV-{n:03d}",
                owner=ATTORNEY,
                title=f"Consultation {n}",
                starts_at=f"{day}T10:00:00Z",
                ends_at=f"{day}T10:30:00Z",
                kind="call",
                contact_id="C-1",
                client_id="C-1",
                status="confirmed",
            )
        )
        if n >= 10:
            billing.post_time_entry(
                TimeEntry(
                    entry_id=f"te-{n}",
                    client_id="C-1",
                    attorney="other.associate@acme-demo.com",  # covered by source, not by the day
                    date=day,
                    minutes=30,
                    description="consultation",
                    rate_cents=42500,
                    source=f"EV-{n:03d}",
                )
            )

    # When the unbilled work is gathered
    unbilled = gather_unbilled(
        GatherInput(identity=IDENTITY, attorney_email=ATTORNEY),
        calendar=calendar,
        crm=InMemoryCrm(),
        billing=billing,
        ctx=CTX,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )

    # Then the covered ones are a count, the proposal holds the oldest eight and two are left out
    assert (unbilled.covered_count, unbilled.count, unbilled.left_out) == (290, MAX_PROPOSED_ENTRIES, 2)
    # and what goes into the state is the same small object however long the history
    assert len(unbilled.model_dump_json()) < 2_000


def test_items_the_model_found_nothing_billable_in_are_not_called_no_unbilled_time(
    moto_aws: None,
) -> None:
    # Given a run whose model proposed nothing for the eight items it saw, 292 more left out
    payload = onboarded(Unbilled(count=8, items=[item(d) for d in range(1, 9)], left_out=292))

    # When the run records the onboarding
    outcome = record_onboarded(
        payload, crm=InMemoryCrm(), ctx=CTX.model_copy(update={"state": "RecordOnboarded"})
    )

    # Then its detail says what was looked at and what is left, without claiming there was nothing
    assert "no unbilled attorney time found" not in outcome.detail
    assert "8 unbilled item(s) reviewed, none proposed as billable; nothing posted" in outcome.detail
    assert "292 more unbilled item(s) were not proposed" in outcome.detail


def test_the_onboarded_outcome_says_no_unbilled_time_only_when_there_was_none(moto_aws: None) -> None:
    # Given a run whose gathering found nothing unbilled
    payload = onboarded(Unbilled(count=0, items=[], covered_count=4))

    # When the run records the onboarding
    outcome = record_onboarded(
        payload, crm=InMemoryCrm(), ctx=CTX.model_copy(update={"state": "RecordOnboarded"})
    )

    # Then it says so, and nothing about items left out
    assert outcome.detail.endswith("; no unbilled attorney time found")
    assert "more unbilled" not in outcome.detail
