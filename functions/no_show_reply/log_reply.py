"""LogReply (irreversible, idempotent): the client's answer goes on the contact's CRM timeline.

The activity says how the kind was decided (a reply link, or Claude's reading with its
confidence and reason), so a person can audit every calendar change a model made.
"""

from __future__ import annotations

from functions.no_show_reply.models import ReplyOutcome, ReplyState, ReplyStatusChange
from functions.shared.activity import record_outcome
from functions.shared.adapters import get_crm
from functions.shared.business_keys import run_fact
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogInput(ReplyState):
    calendar_status: ReplyStatusChange


def log_reply(payload: LogInput, *, crm: CrmPort, ctx: StepContext) -> ReplyOutcome:
    change, kind = payload.calendar_status, payload.kind
    detail = f"client replied {kind!r}: calendar {change.previous_status} → {change.status}"
    if payload.message:
        detail += f"; message: {payload.message}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.event.contact_id,
        key=run_fact(ctx.execution, ctx.state, payload.event_id),
        kind=f"appointment_reply_{kind}",
        summary=detail,
        details={
            "event_id": payload.event_id,
            "reply": kind,
            "previous_status": change.previous_status,
            "status": change.status,
            "confirmed_at": change.confirmed_at,
            **payload.source_details(),
        },
        outcome=ReplyOutcome(
            status=payload.target_status,
            event_id=payload.event_id,
            contact_id=payload.event.contact_id,
            reply=kind,
            detail=detail[:500],
        ),
    )


@step_handler(LogInput)
def handler(payload: LogInput, ctx: StepContext) -> ReplyOutcome:
    return log_reply(payload, crm=get_crm(), ctx=ctx)
