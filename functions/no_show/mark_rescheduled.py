"""MarkRescheduled (reversible): calendar status → rescheduled; RevertEventStatus undoes it.

Runs only after the manager approved "reschedule". The status the appointment had when it was
scored (``$.appointment.status``) is the checkpoint the compensation restores. A retried
invocation that finds the status already "rescheduled" (its first write landed) reports the
change instead of failing on the conditional write.
"""

from __future__ import annotations

from functions.no_show.models import EventStatusChange, IterationInput
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.step_handler import StepContext, step_handler


def mark_rescheduled(payload: IterationInput, *, calendar: CalendarPort) -> EventStatusChange:
    item = payload.appointment
    try:
        calendar.set_status(item.event_id, "rescheduled", expected=item.status)
    except CalendarConflict:
        current = calendar.get_event(item.event_id)
        if current is None or current.status != "rescheduled":
            raise
    return EventStatusChange(
        event_id=item.event_id, previous_status=item.status, status="rescheduled", changed=True
    )


@step_handler(IterationInput)
def handler(payload: IterationInput, ctx: StepContext) -> EventStatusChange:
    return mark_rescheduled(payload, calendar=get_calendar())
