"""Ending a run: one CRM activity, written once, and the run's outcome.

Four terminal steps (sent, disqualified, rejected, failed) do the same irreversible thing: record
what happened on the contact's timeline. The activity id is derived from the execution and the
ASL state, and the write goes through ``run_once``, so a retried invocation records nothing twice.
"""

from __future__ import annotations

from functions.sales_outreach.models import Outcome
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
    contact_id: str,
    lead_id: str,
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
        key=key or run_fact(ctx.execution, ctx.state, lead_id),
        kind=kind,
        summary=summary,
        outcome=outcome,
        details=details,
    )
