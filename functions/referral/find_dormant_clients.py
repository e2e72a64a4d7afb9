"""FindDormantClients (pure): the referrer's company's clients that went quiet.

A referral is a good moment to reconnect with the referrer's colleagues who stopped engaging.
Candidates are the CRM contacts of the referrer's company (``CrmPort.find_contacts``), never the
referrer or the referred person; who counts as dormant is ``functions.shared.dormancy`` (the rule
the re-engagement sweep uses too). The first one (longest silent, then by id) is returned; the
state keeps only how many were considered, not their ids.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from functions.referral.models import Dormant, Person, ReferredContact
from functions.shared.adapters import get_crm
from functions.shared.dormancy import DEFAULT_AFTER_DAYS, dormancy, is_candidate
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class DormantInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer: Person
    referred: ReferredContact
    dormant_after_days: int = DEFAULT_AFTER_DAYS


def find_dormant_clients(payload: DormantInput, *, crm: CrmPort, now: datetime | None = None) -> Dormant:
    now = now or datetime.now(UTC)
    skip = {payload.referrer.contact_id, payload.referred.contact_id}
    candidates = [
        c
        for c in crm.find_contacts(company=payload.referrer.company)
        if c.contact_id not in skip and is_candidate(c)
    ]
    found = []
    for contact in candidates:
        history = crm.list_activities(contact.contact_id)
        latest = history[-1].at if history else None  # oldest first
        client = dormancy(contact, latest, now=now, after_days=payload.dormant_after_days)
        if client is not None:
            found.append(client)
    if not found:
        return Dormant(found=False, considered=len(candidates))
    first = min(found, key=lambda d: d.order)
    return Dormant(
        found=True,
        contact=Person.model_validate(first.contact.model_dump(include=set(Person.model_fields))),
        last_activity_at=first.last_touch,
        days_inactive=first.days_inactive,
        reason=first.reason,
        considered=len(candidates),
    )


@step_handler(DormantInput)
def handler(payload: DormantInput, ctx: StepContext) -> Dormant:
    return find_dormant_clients(payload, crm=get_crm())
