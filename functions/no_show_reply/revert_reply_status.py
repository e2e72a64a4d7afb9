"""RevertReplyStatus (compensation of ApplyReply): restore the status the appointment had.

Idempotent by construction: it only moves the status from the one this run set back to the saved
one, with the saved ``confirmed_at`` (removed if there was none); if nothing was changed, or a
person changed the event meanwhile, it leaves the calendar alone. When ApplyReply itself failed
there is no ``$.calendar_status``: its write may still have landed, so the target status it
would have set is reverted under the same condition.
"""

from __future__ import annotations

from functions.no_show_reply.models import ReplyState, ReplyStatusChange
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.step_handler import StepContext, step_handler


class RevertInput(ReplyState):
    calendar_status: ReplyStatusChange | None = None


def revert_reply_status(payload: RevertInput, *, calendar: CalendarPort) -> ReplyStatusChange:
    seen = payload.event
    change = payload.calendar_status or ReplyStatusChange(
        event_id=seen.event_id,
        previous_status=seen.status,
        status=payload.target_status,
        changed=seen.status != payload.target_status,
    )
    if not change.changed:
        return ReplyStatusChange(
            event_id=seen.event_id, previous_status=seen.status, status=seen.status, changed=False
        )
    restored = True
    try:
        calendar.set_status(
            change.event_id,
            change.previous_status,
            expected=change.status,
            confirmed_at=seen.confirmed_at,
            clear_confirmed_at=seen.confirmed_at is None,
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
