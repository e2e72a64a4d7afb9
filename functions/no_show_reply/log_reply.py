"""LogReply (irreversible, idempotent): the client's answer goes on the contact's CRM timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show_reply.models import ReplyKind, ReplyOutcome, ReplyStatusChange, ValidatedReply
from functions.shared.activity import record_outcome
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str
    reply: ReplyKind
    message: str | None = None
    event: ValidatedReply
    calendar_status: ReplyStatusChange


def log_reply(payload: LogInput, *, crm: CrmPort, ctx: StepContext) -> ReplyOutcome:
    change = payload.calendar_status
    detail = f"client replied {payload.reply!r}: calendar {change.previous_status} → {change.status}"
    if payload.message:
        detail += f"; message: {payload.message}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.event.contact_id,
        business_key=payload.event_id,
        kind=f"appointment_reply_{payload.reply}",
        summary=detail,
        details={
            "event_id": payload.event_id,
            "reply": payload.reply,
            "previous_status": change.previous_status,
            "status": change.status,
            "confirmed_at": change.confirmed_at,
        },
        outcome=ReplyOutcome(
            status=payload.event.target_status,
            event_id=payload.event_id,
            contact_id=payload.event.contact_id,
            reply=payload.reply,
            detail=detail[:500],
        ),
    )


@step_handler(LogInput)
def handler(payload: LogInput, ctx: StepContext) -> ReplyOutcome:
    return log_reply(payload, crm=get_crm(), ctx=ctx)
