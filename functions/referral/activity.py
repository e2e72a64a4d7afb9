"""Ending a run: one CRM activity, written once, and the run's outcome.

Every terminal step (duplicate, rewarded, reward rejected, re-engaged, failed) records what
happened on a contact's timeline. The activity id is derived from the execution and the ASL state,
and the write goes through ``run_once``, so a retried invocation records nothing twice.
"""

from __future__ import annotations

from functions.referral.models import Outcome
from functions.shared import activity as shared
from functions.shared.business_keys import ActionKey, run_fact
from functions.shared.ports.crm import Activity, CrmPort, utc_now_iso
from functions.shared.step_handler import StepContext

Detail = str | int | float | bool | None


def log_activity_once(
    *,
    ctx: StepContext,
    crm: CrmPort,
    contact_id: str,
    kind: str,
    summary: str,
    details: dict[str, Detail] | None = None,
) -> str:
    """Append one activity with an id unique to (execution, state, contact); safe to retry (the
    CRM ignores a second write of the same activity id). Returns the activity id."""
    activity_id = shared.activity_id_for(ctx, contact_id)
    crm.log_activity(
        Activity(
            activity_id=activity_id,
            contact_id=contact_id,
            kind=kind,
            summary=summary[:500],
            at=utc_now_iso(),
            trace_id=ctx.trace_id,
            details=details or {},
        )
    )
    return activity_id


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    contact_id: str,
    business_key: str,
    kind: str,
    summary: str,
    outcome: Outcome,
    details: dict[str, Detail] | None = None,
    key: ActionKey | None = None,
) -> Outcome:
    return shared.record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=contact_id,
        key=key or run_fact(ctx.execution, ctx.state, business_key),
        kind=kind,
        summary=summary,
        outcome=outcome,
        details=details,
        item=contact_id,
    )
