"""CreateReferredContact (reversible): the referred person becomes a CRM contact with status "new".

The contact id comes from the normalised email (``$.match.new_contact_id``), so a retried
invocation rewrites the same contact, and the attribution ("referred by ...") goes on its timeline
with an id unique to the run (the CRM ignores a repeated activity id). Compensation:
RollbackReferredContact.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import log_activity_once
from functions.referral.models import Match, Person, ReferredContact
from functions.shared.adapters import get_crm
from functions.shared.errors import BusinessRuleError
from functions.shared.models import EmailAddress
from functions.shared.ports.crm import Contact, CrmPort, normalise_email
from functions.shared.step_handler import StepContext, step_handler


class CreateInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referred_name: str
    referred_email: EmailAddress
    referred_company: str
    note: str | None = None
    referrer: Person
    match: Match


def create_referred_contact(payload: CreateInput, *, crm: CrmPort, ctx: StepContext) -> ReferredContact:
    contact_id = payload.match.new_contact_id
    current = crm.get_contact(contact_id)
    if current is not None and normalise_email(current.email) != normalise_email(payload.referred_email):
        raise BusinessRuleError(f"contact id {contact_id} already belongs to another address")
    # Write it when it is missing, or when it is the rolled-back contact of an earlier failed run;
    # a contact still "new" is this run's own earlier write (a retry). Anything else appeared
    # meanwhile (someone is working it): leave it alone and stop.
    created = current is None or (payload.match.revived and current.status == "disqualified")
    if current is not None and not created and current.status != "new":
        raise BusinessRuleError(f"contact {contact_id} appeared meanwhile with status {current.status!r}")
    if created:
        crm.put_contact(
            Contact(
                contact_id=contact_id,
                email=payload.referred_email,
                name=payload.referred_name,
                company=payload.referred_company,
                status="new",
            )
        )
    referrer = payload.referrer
    log_activity_once(
        ctx=ctx,
        crm=crm,
        contact_id=contact_id,
        kind="referral_received",
        summary=f"Referred by {referrer.name} ({referrer.company}, {referrer.contact_id})"
        + (f": {payload.note}" if payload.note else ""),
        details={"referrer_contact_id": referrer.contact_id, "match_method": payload.match.method},
    )
    return ReferredContact(
        contact_id=contact_id,
        name=payload.referred_name,
        email=payload.referred_email,
        company=payload.referred_company,
        created=created,
    )


@step_handler(CreateInput)
def handler(payload: CreateInput, ctx: StepContext) -> ReferredContact:
    return create_referred_contact(payload, crm=get_crm(), ctx=ctx)
