"""LogRejection (irreversible, idempotent): a rejected or expired escalation is recorded; nothing else.

``SendTaskFailure`` carries only the error name reliably, so the manager and comment are read
from this appointment's approval record.
"""

from __future__ import annotations

from functions.no_show.activity import record_outcome
from functions.no_show.models import AppointmentOutcome, IterationInput, approval_key
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class RejectionInput(IterationInput):
    approvalError: CaughtError


def log_rejection(
    payload: RejectionInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> AppointmentOutcome:
    item = payload.appointment
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    key = approval_key(item.event_id)
    decided = [r for r in approvals.for_execution(ctx.execution) if r.state == key and r.status == "REJECTED"]
    latest = max(decided, key=lambda r: r.decided_at or "", default=None)
    if expired:
        detail = "nobody decided before the approval deadline; default decision: reject"
    elif latest is not None:
        detail = (
            f"{item.recommended_action} rejected by {latest.decided_by}: {latest.comment or 'no comment'}"
        )
    else:
        detail = f"rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        kind="no_show_escalation_expired" if expired else "no_show_escalation_rejected",
        summary=detail,
        details={"approval_id": latest.approval_id if latest else None, "action": item.recommended_action},
        outcome=AppointmentOutcome(
            event_id=item.event_id,
            contact_id=item.contact_id,
            score=item.score,
            status="escalation_expired" if expired else "escalation_rejected",
            action=item.recommended_action,
            detail=detail[:500],
            decided_by=latest.decided_by if latest else None,
        ),
    )


@step_handler(RejectionInput)
def handler(payload: RejectionInput, ctx: StepContext) -> AppointmentOutcome:
    return log_rejection(payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
