"""SummarizeBatch (pure): the day's counts from the Map's per-appointment outcomes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show.models import AppointmentOutcome, BatchSummary, Signals
from functions.shared.step_handler import StepContext, step_handler


class SummaryInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: Signals
    outcomes: list[AppointmentOutcome]


def summarize_batch(payload: SummaryInput) -> BatchSummary:
    def count(*statuses: str) -> int:
        return sum(1 for outcome in payload.outcomes if outcome.status in statuses)

    return BatchSummary(
        day=payload.signals.day,
        owner=payload.signals.owner,
        appointments=len(payload.outcomes),
        confirmation_requested=count("confirmation_requested"),
        already_confirmed=count("already_confirmed"),
        escalated=count("action_applied", "escalation_rejected", "escalation_expired")
        + sum(1 for o in payload.outcomes if o.status == "failed" and o.action is not None),
        actions_applied=count("action_applied"),
        rejected=count("escalation_rejected"),
        expired=count("escalation_expired"),
        failed=count("failed"),
        skipped=payload.signals.skipped,
        outcomes=payload.outcomes,
    )


@step_handler(SummaryInput)
def handler(payload: SummaryInput, ctx: StepContext) -> BatchSummary:
    return summarize_batch(payload)
