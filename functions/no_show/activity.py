"""Ending an iteration: one CRM activity on the contact, written once, and the appointment's outcome.

The terminal steps of a Map iteration (confirmation requested, action applied, rejected/expired,
failed) do the same irreversible thing: record what happened on the contact's timeline. The
activity id is derived from the execution, the ASL state and the appointment (several iterations
share a state name), and the write goes through ``run_once``, so a retried invocation records
nothing twice.
"""

from __future__ import annotations

from functions.no_show.models import AppointmentOutcome
from functions.shared import activity as shared
from functions.shared.activity import Detail
from functions.shared.business_keys import ActionKey, run_fact
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext

__all__ = ["Detail", "record_outcome"]


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    kind: str,
    summary: str,
    outcome: AppointmentOutcome,
    details: dict[str, Detail] | None = None,
    key: ActionKey | None = None,
) -> AppointmentOutcome:
    """One activity per appointment (the Map runs this state once per item)."""
    return shared.record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=outcome.contact_id,
        key=key or run_fact(ctx.execution, ctx.state, outcome.event_id),
        kind=kind,
        summary=summary,
        outcome=outcome,
        item=outcome.event_id,
        details={"event_id": outcome.event_id, "score": outcome.score, **(details or {})},
    )
