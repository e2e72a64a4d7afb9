"""ApplyApprovedActions (irreversible, idempotent): one batch of the approved digest, applied.

A Distributed Map child over SettleDigest's apply manifest. For each approved appointment: a
``reschedule`` first sets the calendar status to "rescheduled" (conditional on the status it was
scored with; a retry that finds it already rescheduled goes on), then the action goes on the
contact's CRM timeline (``no_show_action_approved``), once per business action (day + owner +
appointment + action, ``business_keys.business_action``), so a retry or a rerun of the day applies
nothing twice. A failure of one appointment is recorded and never fails the batch (a calendar write
that failed is not undone: nothing else followed it); transient errors are raised once the rest
of the batch is done, so the ASL retries the batch.

Writes ``<prefix>/applied/0001.json`` and returns counts.
"""

from __future__ import annotations

from functions.no_show.activity import record_outcome
from functions.no_show.models import ApplyInput, AppointmentOutcome, BatchCounts, DigestItem
from functions.no_show.send_confirmations import LAST_RAISING_ATTEMPT, record_failure
from functions.shared.adapters import get_calendar, get_crm, get_files
from functions.shared.business_keys import business_action
from functions.shared.errors import TransientIntegrationError
from functions.shared.ports.calendar import CalendarConflict, CalendarPort
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.files import FileStore, dumps_json
from functions.shared.step_handler import StepContext, step_handler


def mark_rescheduled(item: DigestItem, *, calendar: CalendarPort) -> None:
    try:
        calendar.set_status(item.event_id, "rescheduled", expected=item.status)
    except CalendarConflict:
        current = calendar.get_event(item.event_id)
        if current is None or current.status != "rescheduled":
            raise


def apply_one(
    item: DigestItem, payload: ApplyInput, *, calendar: CalendarPort, crm: CrmPort, ctx: StepContext
) -> AppointmentOutcome:
    run = payload.run
    if item.recommended_action == "reschedule":
        mark_rescheduled(item, calendar=calendar)
    detail = f"{item.recommended_action} approved by {payload.approver} in the day's digest"
    if item.recommended_action == "reschedule":
        detail += "; calendar status rescheduled"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        key=business_action(
            "no_show_action", run.day, run.owner.lower(), item.event_id, item.recommended_action
        ),
        kind="no_show_action_approved",
        summary=f"No-show risk {item.score:.2f}: {detail}",
        details={"action": item.recommended_action, "approved_by": payload.approver},
        outcome=AppointmentOutcome(
            event_id=item.event_id,
            contact_id=item.contact_id,
            score=item.score,
            status="action_applied",
            action=item.recommended_action,
            detail=detail[:500],
            decided_by=payload.approver,
        ),
    )


def apply_approved_actions(
    payload: ApplyInput, *, calendar: CalendarPort, crm: CrmPort, files: FileStore, ctx: StepContext
) -> BatchCounts:
    items = [DigestItem.model_validate(i) for i in files.get_json(payload.batch.key)]
    outcomes: list[AppointmentOutcome] = []
    transient: TransientIntegrationError | None = None
    for item in items:
        try:
            outcomes.append(apply_one(item, payload, calendar=calendar, crm=crm, ctx=ctx))
        except TransientIntegrationError as exc:
            if ctx.attempt < LAST_RAISING_ATTEMPT:
                transient = exc
                continue
            outcomes.append(record_failure(item, exc, crm=crm, ctx=ctx))
        except Exception as exc:
            outcomes.append(record_failure(item, exc, crm=crm, ctx=ctx))
    if transient is not None:
        raise TransientIntegrationError(
            f"batch {payload.batch.index}: {transient} (retried; nothing is applied twice)"
        )
    key = payload.run.key("applied", payload.batch.index)
    files.put_text(key, dumps_json(outcomes))
    return BatchCounts(
        index=payload.batch.index,
        key=key,
        appointments=len(outcomes),
        sent=sum(1 for o in outcomes if o.status == "action_applied"),
        failed=sum(1 for o in outcomes if o.status == "failed"),
    )


@step_handler(ApplyInput)
def handler(payload: ApplyInput, ctx: StepContext) -> BatchCounts:
    return apply_approved_actions(payload, calendar=get_calendar(), crm=get_crm(), files=get_files(), ctx=ctx)
