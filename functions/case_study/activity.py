"""Ending a run: one CRM activity on the client's timeline, written once, and the run's outcome.

Every terminal step (published, declined, no answers, rejected, failed) records what happened on
the client contact. The activity id is derived from the execution and the ASL state, and the write
goes through ``run_once``, so a retried invocation records nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from functions.case_study.models import Outcome
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import Activity, CrmPort
from functions.shared.step_handler import StepContext

Detail = str | int | float | bool | None


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    contact_id: str,
    deal_id: str,
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
                contact_id=contact_id,
                kind=kind,
                summary=summary[:500],
                at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                trace_id=ctx.trace_id,
                details={"deal_id": deal_id, **(details or {})},
            )
        )
        return outcome.model_copy(update={"activity_id": activity_id})

    return run_once(
        workflow=ctx.workflow,
        step=ctx.state,
        execution=ctx.execution,
        business_key=deal_id,
        pinned={"kind": kind, "contact_id": contact_id},
        result_model=Outcome,
        effect=write,
    )
