"""The confirmation request to one low-risk client (irreversible, idempotent; SendConfirmations).

Everything in the email comes from systems of record: the appointment (time, title, owner) from
the calendar, the recipient from the CRM; the text is a fixed template (no LLM). The calendar
status does not change here: it becomes "confirmed" only when the client answers. ``run_once``
keys the send on (day, owner, event, start time) and pins the recipient, so a retry or a rerun of
the same day after a successful send returns the first result and sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from functions.no_show.models import ScoreLine, SentEmailRef
from functions.shared.business_keys import business_action
from functions.shared.errors import BusinessRuleError, InvalidInputError
from functions.shared.idempotency import run_once
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.crm import CrmPort, parse_timestamp
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.step_handler import StepContext

#: The idempotency records' step name: the per-appointment Lambda's, which this batch step replaced,
#: so a request sent before the change is not sent again after it.
SEND_STEP = "send_confirmation_request"


def _when(starts_at: str) -> str:
    moment: datetime = parse_timestamp(starts_at)
    return moment.strftime("%A %d %B %Y at %H:%M UTC")


def send_confirmation_request(
    item: ScoreLine,
    *,
    day: str,
    owner: str,
    calendar: CalendarPort,
    crm: CrmPort,
    email: EmailPort,
    ctx: StepContext,
) -> SentEmailRef:
    event = calendar.get_event(item.event_id)
    if event is None:
        raise InvalidInputError(f"appointment {item.event_id} is no longer in the calendar")
    if event.status not in {"scheduled", "confirmed"}:
        raise BusinessRuleError(f"appointment {item.event_id} is {event.status}; no confirmation request")
    contact = crm.get_contact(item.contact_id)
    if contact is None:
        raise InvalidInputError(f"contact {item.contact_id} not found in the CRM")
    if contact.do_not_contact:
        raise BusinessRuleError(f"contact {item.contact_id} may not be contacted")
    first_name = contact.name.split()[0] if contact.name.strip() else contact.name
    body = (
        f"Hello {first_name},\n\n"
        f'This is a reminder of your appointment "{event.title}" on {_when(event.starts_at)}.\n\n'
        "Please reply to this email to confirm that you will attend, or to ask for another time.\n\n"
        f"Thank you,\n{event.owner}\n"
    )
    subject = f"Please confirm your appointment on {parse_timestamp(event.starts_at):%d %B at %H:%M} UTC"

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=contact.email,
                subject=subject,
                body_text=body,
                reply_to=event.owner,
                tags={"kind": "confirmation_request", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentEmailRef.of(sent, body)

    return run_once(
        workflow=ctx.workflow,
        step=SEND_STEP,
        # The same appointment's confirmation for the same day and owner, in any run (a moved time is a
        # new confirmation: starts_at is part of it).
        key=business_action("confirmation_request", day, owner, item.event_id, event.starts_at),
        pinned={"to": contact.email, "starts_at": event.starts_at},
        result_model=SentEmailRef,
        effect=send,
    )
