"""LogRejection (irreversible, idempotent): a rejected or expired approval is recorded; the run ends.

Two states use it: ``LogRewardRejected`` (no credit is granted; recorded on the referrer's
timeline, status ``reward_rejected``) and ``LogReengagementRejected`` (nothing is sent; recorded
on the dormant client's timeline, status ``reengagement_rejected``). ``SendTaskFailure`` carries
only the error name reliably, so approver and comment are read from the approvals table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import record_outcome
from functions.referral.models import CreditRef, Dormant, Outcome, Person, ReferredContact
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}
REENGAGEMENT_STATE = "LogReengagementRejected"


class RejectionInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referrer: Person
    referred: ReferredContact
    approvalError: CaughtError
    dormant: Dormant | None = None
    credit: CreditRef | None = None


def log_rejection(
    payload: RejectionInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    reengagement = ctx.state == REENGAGEMENT_STATE
    approval_state = "ReengagementRequestApproval" if reengagement else "RewardRequestApproval"
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    decided = [
        r
        for r in approvals.for_execution(ctx.execution)
        if r.status == "REJECTED" and r.state == approval_state
    ]
    latest = max(decided, key=lambda r: r.decided_at or "", default=None)
    if expired:
        why = "nobody decided before the approval deadline; default decision: reject"
    elif latest is not None:
        why = f"rejected by {latest.decided_by}: {latest.comment or 'no comment'}"
    else:
        why = f"rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    client = payload.dormant.contact if reengagement and payload.dormant else None
    if client is not None:
        contact_id, kind, detail = (
            client.contact_id,
            "reengagement_rejected",
            f"Re-engagement email not sent: {why}",
        )
    else:
        contact_id, kind, detail = (
            payload.referrer.contact_id,
            "referral_reward_rejected",
            f"No referral credit: {why}",
        )
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=contact_id,
        business_key=payload.referrer_contact_id,
        kind=kind,
        summary=detail,
        details={"approval_id": latest.approval_id if latest else None, "error": payload.approvalError.Error},
        outcome=Outcome(
            status="reengagement_rejected" if client is not None else "reward_rejected",
            referrer_contact_id=payload.referrer_contact_id,
            activity_id="-",
            detail=detail[:500],
            referred_contact_id=payload.referred.contact_id,
            credit_id=payload.credit.credit_id if payload.credit else None,
        ),
    )


@step_handler(RejectionInput)
def handler(payload: RejectionInput, ctx: StepContext) -> Outcome:
    return log_rejection(payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
