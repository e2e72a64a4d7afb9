"""RequestApproval (callback task): park this appointment's iteration until the manager decides.

Invoked through ``lambda:invoke.waitForTaskToken`` inside the Map iteration. The task text the
manager will receive if they approve (what to do, for whom, and why) is written to file storage
and is the approval's draft, so the manager may edit it before approving. The approval is keyed
per appointment (``approval_key``), so iterations of the same run never supersede each other's
links; a retry of the same iteration does. Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.no_show.models import IterationInput, RecommendedAction, ScoringReport, approval_key
from functions.shared.adapters import get_calendar, get_crm, get_email, get_files
from functions.shared.approvals import ApprovalRecord, ApprovalService, Draft, approval_email
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.crm import CrmPort, parse_timestamp
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

ACTION_TEXT: dict[RecommendedAction, str] = {
    "call": "Call {name} before the appointment to confirm they will attend.",
    "reschedule": (
        "The appointment is marked 'rescheduled' in the calendar; contact {name} to agree on another slot."
    ),
    "overbook": "Keep the appointment and let the front desk book a standby client in the same slot.",
}


class ApprovalRequested(BaseModel):
    approval_id: str
    expires_at: str


def load_report(files: FileStore, key: str, sha256: str) -> ScoringReport:
    text = files.get_text(key)
    if sha256_text(text) != sha256:
        raise PermanentIntegrationError(f"scoring report {key} changed after it was written")
    return ScoringReport.model_validate_json(text)


def request_approval(
    payload: IterationInput,
    *,
    approvals: ApprovalService,
    calendar: CalendarPort,
    crm: CrmPort,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError("request_approval must be invoked with .waitForTaskToken")
    item = payload.appointment
    event = calendar.get_event(item.event_id)
    contact = crm.get_contact(item.contact_id)
    if event is None or contact is None:
        raise InvalidInputError(f"appointment {item.event_id} or contact {item.contact_id} not found")
    report = load_report(files, payload.report.key, payload.report.sha256)
    line = next((line for line in report.lines if line.event_id == item.event_id), None)
    if line is None:
        raise InvalidInputError(f"appointment {item.event_id} is not in the scoring report")
    when = f"{parse_timestamp(event.starts_at):%A %d %B %Y at %H:%M} UTC"
    signals = ", ".join(f"{name} {value:+.2f}" for name, value in line.points.items())
    body = (
        f"{ACTION_TEXT[item.recommended_action].format(name=contact.name)}\n\n"
        f"Appointment: {event.title} with {event.owner}, {when} (event {event.event_id}).\n"
        f"Client: {contact.name} <{contact.email}> (CRM {contact.contact_id}).\n\n"
        f"No-show risk {item.score:.0%} (threshold {report.risk_threshold:.0%}): points model "
        f"{line.base_probability:.0%}, notes adjustment {line.adjustment:+.2f}.\n"
        f"Points: {signals}.\n"
        f"Notes reading: {line.reason}\n"
    )
    key = f"no_show/{ctx.execution}/{item.event_id}-task-{ctx.attempt}.txt"
    files.put_text(key, body)
    subject = f"No-show risk {item.score:.0%}: {item.recommended_action} {contact.name}, {when}"[:120]
    record: ApprovalRecord = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=approval_key(item.event_id),
        approver=payload.manager_email,
        action=(
            f"Approve '{item.recommended_action}' for {contact.name}'s appointment on {when} "
            f"(no-show risk {item.score:.0%}); rejecting only logs the decision"
        ),
        draft=Draft(subject=subject, body_key=key, body_sha256=sha256_text(body)),
        task_token=ctx.task_token,
    )
    email.send(
        approval_email(
            record, to=payload.manager_email, link=approvals.link(record), body=body, kind="approval_request"
        )
    )
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at)


@step_handler(IterationInput)
def handler(payload: IterationInput, ctx: StepContext) -> ApprovalRequested:
    return request_approval(
        payload,
        approvals=ApprovalService(settings()),
        calendar=get_calendar(),
        crm=get_crm(),
        email=get_email(),
        files=get_files(),
        ctx=ctx,
    )
