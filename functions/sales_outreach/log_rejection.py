"""LogRejection (irreversible, idempotent): a rejected or expired draft is recorded; nothing was sent.

``SendTaskFailure`` carries only the error name reliably, so the approver and comment are read
from the approvals table, where the decision was recorded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.activity import record_outcome
from functions.sales_outreach.models import Lead, Outcome
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class RejectionInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    lead: Lead
    approvalError: CaughtError


def log_rejection(
    payload: RejectionInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    decided = [r for r in approvals.for_execution(ctx.execution) if r.status == "REJECTED"]
    latest = max(decided, key=lambda r: r.decided_at or "", default=None)
    if expired:
        detail = "nobody decided before the approval deadline; default decision: reject"
    elif latest is not None:
        detail = f"rejected by {latest.decided_by}: {latest.comment or 'no comment'}"
    else:
        detail = f"rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.lead.contact_id,
        lead_id=payload.lead_id,
        kind="approval_expired" if expired else "draft_rejected",
        summary=detail,
        details={"approval_id": latest.approval_id if latest else None, "error": payload.approvalError.Error},
        outcome=Outcome(
            status="expired" if expired else "rejected",
            lead_id=payload.lead_id,
            activity_id="-",
            detail=detail[:500],
            approved_by=None,
        ),
    )


@step_handler(RejectionInput)
def handler(payload: RejectionInput, ctx: StepContext) -> Outcome:
    return log_rejection(payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
