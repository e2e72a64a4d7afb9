"""ApplyApprovedAction: carry out what the manager approved, as one unit of work.

For ``reschedule`` the calendar status first becomes "rescheduled" (the approved task text says
so); then, for every action, the approved task goes to the manager's inbox. One step instead of a
Choice on the action followed by MarkRescheduled and SendManagerTask: the action is already in the
item, and the Choice was a billed transition per escalation that decided nothing new.

Failure semantics (unchanged from the two steps it replaces):
- The calendar write is conditional and idempotent: a retried invocation that finds the status
  already "rescheduled" (its first write landed) goes on instead of failing on the condition.
- The send is the last act, through ``send_approved_draft`` (``run_once`` keyed on day, owner,
  event and action, in any run; recipient pinned): a retry after a send returns the first
  result and sends nothing. The text is what the manager approved (their edits included), checked
  against the approval's sha256; the recipient is the manager from the input.
- Errors that prove nothing was sent (``PermanentIntegrationError``, ``TransientIntegrationError``,
  ``InvalidInputError``) are caught in the ASL by RevertStatusAfterFailure, which puts the status
  back (the compensation of the calendar write); any other error leaves the calendar as the task
  the manager may have received describes it, and is recorded.
- Registered as irreversible, like SendManagerTask was: once it succeeded the task is out, so a
  later failure in the iteration (LogActionTaken) is recorded, never undone.
"""

from __future__ import annotations

from functions.no_show.models import (
    AppliedAction,
    ApprovalDecision,
    EventStatusChange,
    IterationInput,
    SentEmailRef,
)
from functions.shared.adapters import get_calendar, get_email, get_files
from functions.shared.business_keys import business_action
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.sending import send_approved_draft
from functions.shared.step_handler import StepContext, step_handler


class ApplyInput(IterationInput):
    approval: ApprovalDecision


def mark_rescheduled(payload: IterationInput, *, calendar: CalendarPort) -> EventStatusChange:
    """Calendar status → rescheduled, from the status the appointment was scored with (the checkpoint
    RevertEventStatus restores)."""
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


def apply_approved_action(
    payload: ApplyInput, *, calendar: CalendarPort, email: EmailPort, files: FileStore, ctx: StepContext
) -> AppliedAction:
    change = (
        mark_rescheduled(payload, calendar=calendar)
        if payload.appointment.recommended_action == "reschedule"
        else None
    )
    draft = payload.approval.draft
    task = send_approved_draft(
        draft=draft,
        to=payload.manager_email,
        kind="no_show_task",
        key=business_action(
            "approved_action",
            payload.day,
            payload.owner,
            payload.appointment.event_id,
            payload.appointment.recommended_action,
        ),
        result_model=SentEmailRef,
        email=email,
        files=files,
        ctx=ctx,
        subject=f"Task: {draft.subject}"[:200],
        what="task",
    )
    return AppliedAction(calendar_status=change, task=task)


@step_handler(ApplyInput)
def handler(payload: ApplyInput, ctx: StepContext) -> AppliedAction:
    return apply_approved_action(
        payload, calendar=get_calendar(), email=get_email(), files=get_files(), ctx=ctx
    )
