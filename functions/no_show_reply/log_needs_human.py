"""LogNeedsHuman (irreversible, idempotent): a reply no one could read goes to a person.

ClassifyReply could not (or would not) tell what the client wants, or the model was unavailable
past its retries. Nothing was changed; the client's words and the reason go on the contact's CRM
timeline as ``appointment_reply_needs_human``, where the owner's follow-up starts.
"""

from __future__ import annotations

from functions.no_show_reply.models import ReplyNeedsHuman, ReplyState
from functions.shared.activity import record_outcome
from functions.shared.adapters import get_crm
from functions.shared.business_keys import run_fact
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class NeedsHumanInput(ReplyState):
    error: CaughtError


def log_needs_human(payload: NeedsHumanInput, *, crm: CrmPort, ctx: StepContext) -> ReplyNeedsHuman:
    reason = payload.error.summary(300)
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.event.contact_id,
        key=run_fact(ctx.execution, ctx.state, payload.event_id),
        kind="appointment_reply_needs_human",
        summary=f"reply needs a person: {payload.message or ''}"[:500],
        details={"event_id": payload.event_id, "error": payload.error.Error, "reason": reason},
        outcome=ReplyNeedsHuman(
            event_id=payload.event_id, contact_id=payload.event.contact_id, detail=reason
        ),
    )


@step_handler(NeedsHumanInput)
def handler(payload: NeedsHumanInput, ctx: StepContext) -> ReplyNeedsHuman:
    return log_needs_human(payload, crm=get_crm(), ctx=ctx)
