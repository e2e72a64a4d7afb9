"""SummarizeBatch (pure): every appointment's outcome and the day's counts.

The outcomes come from the two Maps (confirmation requests, then escalations); the
already-confirmed appointments entered no Map (ScoreAppointments routed them to their own list),
so their outcome is written here. Order: confirmations, already confirmed, escalations, each in
start order, which is the order the run handled them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show.models import AppointmentOutcome, BatchSummary, MapItem, Scored, Signals
from functions.shared.step_handler import StepContext, step_handler


class SummaryInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: Signals
    scored: Scored
    confirmations: list[AppointmentOutcome]
    escalations: list[AppointmentOutcome]


def already_confirmed(item: MapItem) -> AppointmentOutcome:
    return AppointmentOutcome(
        event_id=item.event_id,
        contact_id=item.contact_id,
        score=item.score,
        status="already_confirmed",
        detail="the client already confirmed; no request sent",
    )


def summarize_batch(payload: SummaryInput) -> BatchSummary:
    outcomes = [
        *payload.confirmations,
        *(already_confirmed(item) for item in payload.scored.already_confirmed),
        *payload.escalations,
    ]

    def count(*statuses: str) -> int:
        return sum(1 for outcome in outcomes if outcome.status in statuses)

    return BatchSummary(
        day=payload.signals.day,
        owner=payload.signals.owner,
        appointments=len(outcomes),
        confirmation_requested=count("confirmation_requested"),
        already_confirmed=count("already_confirmed"),
        escalated=len(payload.escalations),
        actions_applied=count("action_applied"),
        rejected=count("escalation_rejected"),
        expired=count("escalation_expired"),
        failed=count("failed"),
        skipped=payload.signals.skipped,
        outcomes=outcomes,
    )


@step_handler(SummaryInput)
def handler(payload: SummaryInput, ctx: StepContext) -> BatchSummary:
    return summarize_batch(payload)
