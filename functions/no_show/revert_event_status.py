"""RevertEventStatus (compensation of ApplyApprovedAction's calendar write): restore the status.

ApplyApprovedAction failed, so the state holds no result of it: whether its write landed is
unknown. For a ``reschedule`` the status goes back from "rescheduled" to the one the appointment
was scored with (``$.appointment.status``, the checkpoint), conditionally, so it is idempotent by
construction: if the write never landed, was already restored, or a person changed the event
meanwhile, the calendar is left alone. Other actions never touch the calendar: nothing to do.
"""

from __future__ import annotations

from functions.no_show.models import EventStatusChange, IterationInput
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.step_handler import StepContext, step_handler


def revert_event_status(payload: IterationInput, *, calendar: CalendarPort) -> EventStatusChange:
    item = payload.appointment
    if item.recommended_action != "reschedule":
        return EventStatusChange(
            event_id=item.event_id, previous_status=item.status, status=item.status, changed=False
        )
    restored = True
    try:
        calendar.set_status(item.event_id, item.status, expected="rescheduled")
    except CalendarConflict:  # never landed, restored by an earlier attempt, or a person moved it
        current = calendar.get_event(item.event_id)
        restored = current is not None and current.status == item.status
    return EventStatusChange(
        event_id=item.event_id, previous_status=item.status, status=item.status, changed=restored
    )


@step_handler(IterationInput)
def handler(payload: IterationInput, ctx: StepContext) -> EventStatusChange:
    return revert_event_status(payload, calendar=get_calendar())
