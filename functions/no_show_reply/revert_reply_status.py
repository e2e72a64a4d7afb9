"""RevertReplyStatus (compensation of ApplyReply): restore the status the appointment had.

Idempotent by construction: it only moves the status from the one this run set back to the saved
one (and the saved ``confirmed_at``, when there was one); if nothing was changed, or a person
changed the event meanwhile, it leaves the calendar alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show_reply.models import ReplyStatusChange, ValidatedReply
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.step_handler import StepContext, step_handler


class RevertInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: ValidatedReply
    calendar_status: ReplyStatusChange | None = None


def revert_reply_status(payload: RevertInput, *, calendar: CalendarPort) -> ReplyStatusChange:
    change, seen = payload.calendar_status, payload.event
    if change is None or not change.changed:
        return ReplyStatusChange(
            event_id=seen.event_id, previous_status=seen.status, status=seen.status, changed=False
        )
    restored = True
    try:
        calendar.set_status(
            change.event_id, change.previous_status, expected=change.status, confirmed_at=seen.confirmed_at
        )
    except CalendarConflict:
        current = calendar.get_event(change.event_id)
        restored = current is not None and current.status == change.previous_status
    return ReplyStatusChange(
        event_id=change.event_id,
        previous_status=change.status,
        status=change.previous_status,
        changed=restored,
        confirmed_at=seen.confirmed_at,
    )


@step_handler(RevertInput)
def handler(payload: RevertInput, ctx: StepContext) -> ReplyStatusChange:
    return revert_reply_status(payload, calendar=get_calendar())
