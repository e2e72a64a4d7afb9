"""RecordFailure (irreversible, idempotent): the failure and its cause go on the CRM timeline.

Runs at the end of the compensation chain, before the ``Fail`` state that keeps the original error
and cause as the execution's result.
"""

from __future__ import annotations

from functions.no_show_reply.models import ReplyOutcome, ReplyState
from functions.shared.activity import record_outcome
from functions.shared.adapters import get_crm
from functions.shared.business_keys import run_fact
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class FailureInput(ReplyState):
    error: CaughtError


def record_failure(payload: FailureInput, *, crm: CrmPort, ctx: StepContext) -> ReplyOutcome:
    detail = payload.error.summary()
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.event.contact_id,
        key=run_fact(ctx.execution, ctx.state, payload.event_id),
        kind="appointment_reply_failed",
        summary=detail,
        details={"event_id": payload.event_id, "reply": payload.kind, "error": payload.error.Error},
        outcome=ReplyOutcome(
            status="failed",
            event_id=payload.event_id,
            contact_id=payload.event.contact_id,
            reply=payload.kind,
            detail=detail,
        ),
    )


@step_handler(FailureInput)
def handler(payload: FailureInput, ctx: StepContext) -> ReplyOutcome:
    return record_failure(payload, crm=get_crm(), ctx=ctx)
