"""LogConfirmationRequested (irreversible, idempotent): the request goes on the contact's timeline."""

from __future__ import annotations

from functions.no_show.activity import record_outcome
from functions.no_show.models import AppointmentOutcome, IterationInput, SentEmailRef
from functions.shared.adapters import get_crm
from functions.shared.business_keys import logged_send
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogRequestedInput(IterationInput):
    sent: SentEmailRef


def log_confirmation_requested(
    payload: LogRequestedInput, *, crm: CrmPort, ctx: StepContext
) -> AppointmentOutcome:
    item, sent = payload.appointment, payload.sent
    return record_outcome(
        ctx=ctx,
        crm=crm,
        kind="confirmation_requested",
        key=logged_send(sent.message_id),
        summary=f"Appointment confirmation requested (no-show risk {item.score:.2f}): {sent.subject}",
        details={"message_id": sent.message_id},
        outcome=AppointmentOutcome(
            event_id=item.event_id,
            contact_id=item.contact_id,
            score=item.score,
            status="confirmation_requested",
            detail=f"confirmation request sent to {sent.to}",
            message_id=sent.message_id,
        ),
    )


@step_handler(LogRequestedInput)
def handler(payload: LogRequestedInput, ctx: StepContext) -> AppointmentOutcome:
    return log_confirmation_requested(payload, crm=get_crm(), ctx=ctx)
