"""Ending a run (or one item of it): one CRM activity, written once, and the outcome it produced.

Every workflow's terminal steps do the same irreversible thing: record what happened on a
contact's timeline. The write goes through ``run_once`` keyed on the caller's ``ActionKey``
(``business_keys``: a business action once across runs, a run's own fact once per run), so a retried
invocation or a rerun records nothing twice and returns the first outcome.
Each workflow's ``activity.py`` wraps this with its names.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from functions.shared.business_keys import ActionKey
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import Activity, CrmPort, utc_now_iso
from functions.shared.step_handler import StepContext

OutcomeT = TypeVar("OutcomeT", bound=BaseModel)
Detail = str | int | float | bool | None


def activity_id_for(ctx: StepContext, item: str | None = None) -> str:
    return f"{ctx.execution}-{ctx.state}" + (f"-{item}" if item else "")


def record_outcome(
    *,
    ctx: StepContext,
    crm: CrmPort,
    contact_id: str,
    key: ActionKey,
    kind: str,
    summary: str,
    outcome: OutcomeT,
    details: dict[str, Detail] | None = None,
    item: str | None = None,
) -> OutcomeT:
    """Log ``kind`` on ``contact_id`` once and return ``outcome`` with its ``activity_id`` set."""
    activity_id = activity_id_for(ctx, item)

    def write() -> OutcomeT:
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
        return outcome.model_copy(update={"activity_id": activity_id})

    return run_once(
        workflow=ctx.workflow,
        step=ctx.state,
        key=key,
        pinned={"kind": kind, "contact_id": contact_id},
        result_model=type(outcome),
        effect=write,
    )
