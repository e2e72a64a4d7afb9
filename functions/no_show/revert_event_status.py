"""RevertEventStatus (compensation of MarkRescheduled): restore the status the appointment had.

Idempotent by construction: it only moves the status from "rescheduled" back to the saved one;
if nothing was changed (the call/overbook path, or already restored), or a person changed the
event meanwhile, it leaves the calendar alone.
"""

from __future__ import annotations

from functions.no_show.models import EventStatusChange, IterationInput
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.step_handler import StepContext, step_handler


class RevertInput(IterationInput):
    calendar_status: EventStatusChange | None = None


def revert_event_status(payload: RevertInput, *, calendar: CalendarPort) -> EventStatusChange:
    change = payload.calendar_status
    item = payload.appointment
    if change is None or not change.changed or change.status != "rescheduled":
        return EventStatusChange(
            event_id=item.event_id, previous_status=item.status, status=item.status, changed=False
        )
    restored = True
    try:
        calendar.set_status(change.event_id, change.previous_status, expected="rescheduled")
    except CalendarConflict:
        current = calendar.get_event(change.event_id)
        restored = current is not None and current.status == change.previous_status
    return EventStatusChange(
        event_id=change.event_id,
        previous_status=change.previous_status,
        status=change.previous_status,
        changed=restored,
    )


@step_handler(RevertInput)
def handler(payload: RevertInput, ctx: StepContext) -> EventStatusChange:
    return revert_event_status(payload, calendar=get_calendar())
