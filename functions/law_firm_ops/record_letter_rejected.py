"""RecordLetterRejected (irreversible, idempotent): a rejected or expired letter is recorded.

Nothing was sent.

Runs after the compensations (matter archived, status reverted). ``SendTaskFailure`` carries only
the error name reliably, so the attorney and the comment are read from the approvals table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.activity import record_outcome
from functions.law_firm_ops.models import ClientIdentity, MatterRecord, Outcome
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class LetterRejectedInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    approvalError: CaughtError


def record_letter_rejected(
    payload: LetterRejectedInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    rejected = [r for r in approvals.for_execution(ctx.execution) if r.status == "REJECTED"]
    latest = max(rejected, key=lambda r: r.decided_at or "", default=None)
    if expired:
        detail = "nobody approved the engagement letter before the deadline; default decision: reject"
    elif latest is not None:
        detail = f"engagement letter rejected by {latest.decided_by}: {latest.comment or 'no comment'}"
    else:
        detail = f"engagement letter rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    detail += f"; matter {payload.matter_record.matter_id} archived, client status restored"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        client_id=payload.identity.client_id,
        kind="approval_expired" if expired else "engagement_letter_rejected",
        summary=detail,
        details={
            "approval_id": latest.approval_id if latest else None,
            "matter_id": payload.matter_record.matter_id,
        },
        outcome=Outcome(
            status="expired" if expired else "rejected",
            client_email=payload.identity.email,
            client_id=payload.identity.client_id,
            matter_id=payload.matter_record.matter_id,
            detail=detail[:1000],
        ),
    )


@step_handler(LetterRejectedInput)
def handler(payload: LetterRejectedInput, ctx: StepContext) -> Outcome:
    return record_letter_rejected(
        payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx
    )
