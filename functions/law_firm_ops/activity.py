"""Ending a run: one CRM activity on the client's timeline, written once, and the run's outcome.

The terminal steps (onboarded, letter rejected, failed) record what happened on the client contact.
The activity id is derived from the execution and the ASL state, and the write goes through
``run_once``, so a retried invocation records nothing twice.
"""

from __future__ import annotations

from functions.law_firm_ops.models import Outcome
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import Activity, CrmPort, utc_now_iso
from functions.shared.step_handler import StepContext

Detail = str | int | float | bool | None


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    client_id: str,
    kind: str,
    summary: str,
    outcome: Outcome,
    details: dict[str, Detail] | None = None,
) -> Outcome:
    activity_id = f"{ctx.execution}-{ctx.state}"

    def write() -> Outcome:
        crm.log_activity(
            Activity(
                activity_id=activity_id,
                contact_id=client_id,
                kind=kind,
                summary=summary[:500],
                at=utc_now_iso(),
                trace_id=ctx.trace_id,
                details={"workflow": ctx.workflow, **(details or {})},
            )
        )
        return outcome.model_copy(update={"activity_id": activity_id})

    return run_once(
        workflow=ctx.workflow,
        step=ctx.state,
        execution=ctx.execution,
        business_key=client_id,
        pinned={"kind": kind, "client_id": client_id},
        result_model=Outcome,
        effect=write,
    )
