"""ValidateReply (pure): the reply must be about a known, open appointment and come from its contact.

It runs first, before any model reads the message: the event is read from the calendar (strongly
consistent) and must be an open appointment; the contact's address comes from the CRM and the
sender must match it (case-insensitive). Anything else is a ``BusinessRuleError``
that the ASL turns into an ``ignored`` end with the reason: nothing is changed for a reply nobody
can vouch for.
"""

from __future__ import annotations

from functions.no_show_reply.models import NoShowReply, ValidatedReply
from functions.shared.adapters import get_calendar, get_crm
from functions.shared.errors import BusinessRuleError
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

#: A reply to these changes nothing: the appointment is over, or already moved to another time.
CLOSED_STATUSES = {"cancelled", "no_show", "rescheduled"}


def validate_reply(request: NoShowReply, *, calendar: CalendarPort, crm: CrmPort) -> ValidatedReply:
    event = calendar.get_event(request.event_id)
    if event is None:
        raise BusinessRuleError(f"event {request.event_id} not found in the calendar")
    if event.kind != "appointment":  # the calendar is shared: court dates and meetings are not replied to
        raise BusinessRuleError(f"event {request.event_id} is a {event.kind}, not an appointment")
    if event.contact_id is None:
        raise BusinessRuleError(f"event {request.event_id} has no contact")
    if event.status in CLOSED_STATUSES:
        raise BusinessRuleError(f"event {request.event_id} is already {event.status}")
    contact = crm.get_contact(event.contact_id)
    if contact is None:
        raise BusinessRuleError(
            f"contact {event.contact_id} of event {request.event_id} not found in the CRM"
        )
    if contact.email.strip().lower() != request.from_email.strip().lower():
        raise BusinessRuleError(f"reply to event {request.event_id} does not come from the contact's address")
    return ValidatedReply(
        event_id=event.event_id,
        contact_id=event.contact_id,
        status=event.status,
        confirmed_at=event.confirmed_at,
    )


@step_handler(NoShowReply)
def handler(request: NoShowReply, ctx: StepContext) -> ValidatedReply:
    return validate_reply(request, calendar=get_calendar(), crm=get_crm())
