"""Ending an iteration: one CRM activity on the contact, written once, and the appointment's outcome.

The terminal steps of a Map iteration (confirmation requested, action applied, rejected/expired,
failed) do the same irreversible thing: record what happened on the contact's timeline. The
activity id is derived from the execution, the ASL state and the appointment (several iterations
share a state name), and the write goes through ``run_once``, so a retried invocation records
nothing twice.
"""

from __future__ import annotations

from functions.no_show.models import AppointmentOutcome
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import Activity, CrmPort, DetailValue, utc_now_iso
from functions.shared.step_handler import StepContext


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    kind: str,
    summary: str,
    outcome: AppointmentOutcome,
    details: dict[str, DetailValue] | None = None,
) -> AppointmentOutcome:
    activity_id = f"{ctx.execution}-{ctx.state}-{outcome.event_id}"

    def write() -> AppointmentOutcome:
        crm.log_activity(
            Activity(
                activity_id=activity_id,
                contact_id=outcome.contact_id,
                kind=kind,
                summary=summary[:500],
                at=utc_now_iso(),
                trace_id=ctx.trace_id,
                details={"event_id": outcome.event_id, "score": outcome.score, **(details or {})},
            )
        )
        return outcome.model_copy(update={"activity_id": activity_id})

    return run_once(
        workflow=ctx.workflow,
        step=ctx.state,
        execution=ctx.execution,
        business_key=outcome.event_id,
        pinned={"kind": kind, "contact_id": outcome.contact_id},
        result_model=AppointmentOutcome,
        effect=write,
    )
