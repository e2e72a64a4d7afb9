"""FindDormantClients (pure): the referrer's company's clients that went quiet.

A referral is a good moment to reconnect with the referrer's colleagues who stopped engaging.
Candidates are the CRM contacts of the referrer's company (``CrmPort.find_contacts``) with status
"client" or "dormant", never the referrer, the referred person or anyone flagged do-not-contact.
One is dormant when its status is "dormant", or when its latest CRM activity (or, without any
activity, its profile's last update) is older than ``dormant_after_days``. The first one (longest
silent, then by id) is returned.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from functions.referral.models import Dormant, Person, ReferredContact
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CLIENT_STATUSES, Contact, CrmPort, parse_timestamp
from functions.shared.step_handler import StepContext, step_handler


class DormantInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer: Person
    referred: ReferredContact
    dormant_after_days: int = 90


def _last_touch(crm: CrmPort, contact: Contact) -> str:
    history = crm.list_activities(contact.contact_id)
    if not history:
        return contact.updated_at
    return max(history, key=lambda a: parse_timestamp(a.at)).at


def find_dormant_clients(payload: DormantInput, *, crm: CrmPort, now: datetime | None = None) -> Dormant:
    now = now or datetime.now(UTC)
    skip = {payload.referrer.contact_id, payload.referred.contact_id}
    considered: list[str] = []
    dormant: list[tuple[datetime, str, Contact, str, str]] = []
    for contact in crm.find_contacts(company=payload.referrer.company):
        if contact.contact_id in skip or contact.do_not_contact or contact.status not in CLIENT_STATUSES:
            continue
        considered.append(contact.contact_id)
        touched = _last_touch(crm, contact)
        days = (now - parse_timestamp(touched)).days
        if contact.status == "dormant":
            reason = "status dormant"
        elif days >= payload.dormant_after_days:
            reason = f"no activity for {days} days (threshold {payload.dormant_after_days})"
        else:
            continue
        dormant.append((parse_timestamp(touched), contact.contact_id, contact, touched, reason))
    if not dormant:
        return Dormant(found=False, considered=considered)
    _, _, contact, touched, reason = min(dormant, key=lambda d: (d[0], d[1]))
    return Dormant(
        found=True,
        contact=Person.model_validate(contact.model_dump(include=set(Person.model_fields))),
        last_activity_at=touched,
        days_inactive=(now - parse_timestamp(touched)).days,
        reason=reason,
        considered=considered,
    )


@step_handler(DormantInput)
def handler(payload: DormantInput, ctx: StepContext) -> Dormant:
    return find_dormant_clients(payload, crm=get_crm())
