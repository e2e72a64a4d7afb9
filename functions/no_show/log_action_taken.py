"""LogActionTaken (irreversible, idempotent): the approved action goes on the contact's timeline."""

from __future__ import annotations

from functions.no_show.activity import record_outcome
from functions.no_show.models import AppliedAction, AppointmentOutcome, ApprovalDecision, IterationInput
from functions.shared.adapters import get_crm
from functions.shared.business_keys import logged_send
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class ActionInput(IterationInput):
    approval: ApprovalDecision
    applied: AppliedAction


def log_action_taken(payload: ActionInput, *, crm: CrmPort, ctx: StepContext) -> AppointmentOutcome:
    item, approval, task = payload.appointment, payload.approval, payload.applied.task
    moved = payload.applied.calendar_status is not None and payload.applied.calendar_status.changed
    detail = f"{item.recommended_action} approved by {approval.approver}; task sent to {task.to}"
    if moved:
        detail += "; calendar status rescheduled"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        kind="no_show_action_approved",
        key=logged_send(task.message_id),
        summary=f"No-show risk {item.score:.2f}: {detail}",
        details={
            "action": item.recommended_action,
            "approved_by": approval.approver,
            "edited": approval.edited,
            "message_id": task.message_id,
        },
        outcome=AppointmentOutcome(
            event_id=item.event_id,
            contact_id=item.contact_id,
            score=item.score,
            status="action_applied",
            action=item.recommended_action,
            detail=detail[:500],
            message_id=task.message_id,
            decided_by=approval.approver,
        ),
    )


@step_handler(ActionInput)
def handler(payload: ActionInput, ctx: StepContext) -> AppointmentOutcome:
    return log_action_taken(payload, crm=get_crm(), ctx=ctx)
