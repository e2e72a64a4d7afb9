"""RecordAppointmentFailure (irreversible, idempotent): one appointment failed; the batch goes on.

Every Catch inside the Map iteration ends here (after the compensations that apply): the error
and cause go on the contact's CRM timeline and become this appointment's outcome, so one bad
appointment never fails the day's run.
"""

from __future__ import annotations

from functions.no_show.activity import record_outcome
from functions.no_show.models import AppointmentOutcome, IterationInput
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class FailureInput(IterationInput):
    error: CaughtError


def record_appointment_failure(
    payload: FailureInput, *, crm: CrmPort, ctx: StepContext
) -> AppointmentOutcome:
    item = payload.appointment
    detail = payload.error.summary()
    return record_outcome(
        ctx=ctx,
        crm=crm,
        kind="no_show_check_failed",
        summary=detail,
        details={"error": payload.error.Error, "route": item.route},
        outcome=AppointmentOutcome(
            event_id=item.event_id,
            contact_id=item.contact_id,
            score=item.score,
            status="failed",
            detail=detail,
            error=payload.error.Error,
            action=item.recommended_action if item.route == "escalate" else None,
        ),
    )


@step_handler(FailureInput)
def handler(payload: FailureInput, ctx: StepContext) -> AppointmentOutcome:
    return record_appointment_failure(payload, crm=get_crm(), ctx=ctx)
