"""CreateReferredContact (reversible): the referred person becomes a CRM contact with status "new".

The contact id comes from the normalised email (``$.match.new_contact_id``) and the contact is
created only if that id is free (``create_contact``), with ``source = "referral:<execution>"``: a
retried invocation recognises its own earlier write by the source, while a contact another run
created meanwhile (two referrals of one person at once: MatchReferral of both ran before either
created it) stops this run with a ``BusinessRuleError`` instead of rewarding the same person twice.
The attribution ("referred by ...") goes on its timeline with an id unique to the run (the CRM
ignores a repeated activity id). Compensation: RollbackReferredContact, which undoes only a contact
with this run's source.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import log_activity_once
from functions.referral.models import Match, Person, ReferredContact
from functions.shared.activity import activity_id_for
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


#: The ASL state whose ``referral_received`` activity marks a contact as a run's own.
CREATE_STATE = "CreateReferredContact"


def referral_source(ctx: StepContext) -> str:
    """The ``source`` of the contact this run creates: which run may treat it as its own."""
    return f"referral:{ctx.execution}"


def made_by_this_run(crm: CrmPort, contact: Contact, ctx: StepContext) -> bool:
    """The contact is this run's: its ``source`` says so, or, for a contact written before contacts
    carried a source, its timeline holds this run's ``referral_received`` activity."""
    if contact.source is not None:
        return contact.source == referral_source(ctx)
    own = activity_id_for(ctx.model_copy(update={"state": CREATE_STATE}), contact.contact_id)
    return any(a.activity_id == own for a in crm.list_activities(contact.contact_id))


def create_referred_contact(payload: CreateInput, *, crm: CrmPort, ctx: StepContext) -> ReferredContact:
    contact_id = payload.match.new_contact_id
    contact = Contact(
        contact_id=contact_id,
        email=payload.referred_email,
        name=payload.referred_name,
        company=payload.referred_company,
        status="new",
        source=referral_source(ctx),
    )
    current = crm.get_contact(contact_id)
    if current is not None and normalise_email(current.email) != normalise_email(payload.referred_email):
        raise BusinessRuleError(f"contact id {contact_id} already belongs to another address")
    written: bool | None = None  # None: no write tried, ``current`` is what is there
    if current is None:
        written = crm.create_contact(contact)
    elif payload.match.revived and current.status == "disqualified":
        # the rolled-back contact of an earlier failed run, revived (by one run only)
        written = crm.replace_contact(contact, expected_status="disqualified")
    if written is False:  # the conditional write lost: read what won
        current = crm.get_contact(contact_id)
    created = bool(written)
    # Not written by this invocation: only this run's own earlier write (a retry) may go on.
    if not created and (current is None or not made_by_this_run(crm, current, ctx)):
        found = f"with status {current.status!r}, source {current.source or 'unknown'}" if current else ""
        raise BusinessRuleError(
            f"contact {contact_id} was created meanwhile by someone else {found}: "
            "not rewarding the same person twice"
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
