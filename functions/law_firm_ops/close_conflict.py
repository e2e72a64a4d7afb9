"""CloseConflict (pure): the partner declined to waive (or nobody decided): the run ends ``conflict``.

Nothing was created in the CRM or billing, so there is nothing to undo and no client timeline to
write to; the decision, the partner and the comment are read from the approvals table, where they
were recorded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, Outcome
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class CloseConflictInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    error: CaughtError
    approvalError: CaughtError


def close_conflict(payload: CloseConflictInput, *, approvals: ApprovalStore, ctx: StepContext) -> Outcome:
    if payload.approvalError.Error in EXPIRY_ERRORS:
        decision = "nobody waived the conflict before the deadline; default decision: decline"
    else:
        rejected = [r for r in approvals.for_execution(ctx.execution) if r.status == "REJECTED"]
        latest = max(rejected, key=lambda r: r.decided_at or "", default=None)
        decision = (
            f"waiver refused by {latest.decided_by}: {latest.comment or 'no comment'}"
            if latest is not None
            else "waiver refused"
        )
    return Outcome(
        status="conflict",
        client_email=payload.identity.email,
        detail=f"{decision} ({payload.error.Cause or payload.error.Error})"[:1000],
    )


@step_handler(CloseConflictInput)
def handler(payload: CloseConflictInput, ctx: StepContext) -> Outcome:
    return close_conflict(payload, approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
