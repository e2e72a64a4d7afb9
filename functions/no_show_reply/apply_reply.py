"""ApplyReply (reversible): calendar status → confirmed / cancelled / rescheduled.

RevertReplyStatus (its compensation) undoes it.

The write is conditional on the status ValidateReply saw (``$.event.status``), which is also the
checkpoint the compensation restores. A retried invocation that finds the target status already
set (its first write landed) reports the change; if a person changed the event in between, the
reply is stale and the run ends ``ignored`` (``BusinessRuleError``) without touching it.
"""

from __future__ import annotations

from functions.no_show_reply.models import ReplyState, ReplyStatusChange
from functions.shared.adapters import get_calendar
from functions.shared.errors import BusinessRuleError
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.ports.crm import utc_now_iso
from functions.shared.step_handler import StepContext, step_handler


def apply_reply(payload: ReplyState, *, calendar: CalendarPort, now: str | None = None) -> ReplyStatusChange:
    seen = payload.event
    target = payload.target_status
    confirmed_at = (now or utc_now_iso()) if target == "confirmed" else None
    try:
        calendar.set_status(seen.event_id, target, expected=seen.status, confirmed_at=confirmed_at)
    except CalendarConflict as exc:
        current = calendar.get_event(seen.event_id)
        if current is None or current.status != target:
            raise BusinessRuleError(
                f"event {seen.event_id} changed since the reply was checked: {exc}"
            ) from exc
        confirmed_at = current.confirmed_at
    return ReplyStatusChange(
        event_id=seen.event_id,
        previous_status=seen.status,
        status=target,
        changed=seen.status != target,
        confirmed_at=confirmed_at,
    )


@step_handler(ReplyState)
def handler(payload: ReplyState, ctx: StepContext) -> ReplyStatusChange:
    return apply_reply(payload, calendar=get_calendar())
