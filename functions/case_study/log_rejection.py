"""LogRejection (irreversible, idempotent): the client or marketing rejected the draft, or nobody
decided before the deadline. Nothing was published. Who rejected, and their comment, are read from
the approvals table (``SendTaskFailure`` carries only the error name reliably).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.activity import record_outcome
from functions.case_study.models import Facts, Outcome
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}
REVIEWERS = {"RequestClientApproval": "the client", "RequestMarketingApproval": "marketing"}


class RejectionInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str
    facts: Facts
    approvalError: CaughtError


def log_rejection(
    payload: RejectionInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    closed = [r for r in approvals.for_execution(ctx.execution) if r.status in {"REJECTED", "EXPIRED"}]
    latest = max(closed, key=lambda r: r.decided_at or r.created_at, default=None)
    who = REVIEWERS.get(latest.state, "a reviewer") if latest else "a reviewer"
    if expired:
        detail = f"{who} did not decide before the approval deadline; default decision: reject"
    elif latest is not None:
        detail = f"rejected by {who} ({latest.decided_by}): {latest.comment or 'no comment'}"
    else:
        detail = f"rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.facts.contact_id,
        deal_id=payload.deal_id,
        kind="case_study_expired" if expired else "case_study_rejected",
        summary=detail,
        details={
            "approval_id": latest.approval_id if latest else None,
            "stage": latest.state if latest else None,
            "error": payload.approvalError.Error,
        },
        outcome=Outcome(
            status="expired" if expired else "rejected",
            deal_id=payload.deal_id,
            activity_id="-",
            detail=detail[:500],
        ),
    )


@step_handler(RejectionInput)
def handler(payload: RejectionInput, ctx: StepContext) -> Outcome:
    return log_rejection(payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
