"""MatchReferral (pure + LLM entity match): is the referred person already in the CRM?

1. Exact: the CRM's email lookup (``find_contact_by_email``). A hit is a duplicate, unless it is
   the contact an earlier failed run of a referral created and rolled back (then it is revived).
2. Fuzzy: contacts of the same company (normalised name), the same company email domain or the
   same person name are candidates (``CrmPort.find_contacts``, an index lookup); the model decides
   whether one of them is the referred person ("Northwind Freight Ltd." vs "Northwind Freight",
   "Pat" vs "Patrick").

The model only answers which candidate (by id, validated against the ids it was given) or
"none", and how sure it is; this code picks the decision: a duplicate needs a named candidate with
high or medium confidence. No candidates, no model call.

A "new" decision the model was not sure of is not trusted with money (design: "LLM output never
opens a control"): a named candidate below the bar, a "none" with low confidence, or a "none" while
a candidate has the referred person's name or surname (``likely_same``) sets ``needs_review``, and
IsDuplicate then asks the rewards approver (ReviewMatch) before a contact, a thank-you or any
reward exists, whatever the amount; without a reward nothing is paid and the run goes on.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.referral.models import Candidate, Match, match_model, referred_contact_id
from functions.referral.prompts import PLAYBOOK
from functions.shared.adapters import get_crm
from functions.shared.contact_keys import email_domain, name_key
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.models import EmailAddress
from functions.shared.ports.crm import Contact, CrmPort
from functions.shared.step_handler import StepContext, step_handler

ROLLED_BACK_KIND = "referral_rolled_back"
DUPLICATE_CONFIDENCE = {"high", "medium"}
#: Candidates shown to the model at most (the likeliest, see possible_duplicates): keeps the prompt bounded.
MAX_CANDIDATES = 10
#: Colleagues at the same company read to rank by name (one BatchGetItem); the rest are not read.
MAX_COMPANY_CANDIDATES = 100


class MatchInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referred_name: str
    referred_email: EmailAddress
    referred_company: str


def _rolled_back(crm: CrmPort, contact: Contact) -> bool:
    """Created by a referral run whose compensation disqualified it, and untouched since."""
    if contact.status != "disqualified":
        return False
    history = crm.list_activities(contact.contact_id)
    return bool(history) and history[-1].kind == ROLLED_BACK_KIND


def possible_duplicates(crm: CrmPort, *, name: str, email: str, company: str) -> list[Contact]:
    """Contacts that might be this person, the likeliest first, at most ``MAX_CANDIDATES``.

    Same name first; then the more name words in common the earlier ("Patrick Novak" before "Ann
    Lee" for "Pat Novak"), then same company email domain before same company only, then by id. So
    at a company with many contacts the model still sees the colleague who shares a surname, not
    whoever shares the mail domain or sorts first. Colleagues are read up to
    ``MAX_COMPANY_CANDIDATES`` (the first by id): past that, a namesake can still be missed.
    """
    domain, wanted_name = email_domain(email), name_key(name)
    wanted_words = set(wanted_name.split())
    found: dict[str, Contact] = {}
    for contact in [
        *crm.find_contacts(name=name, limit=MAX_CANDIDATES),
        *(crm.find_contacts(email_domain=domain, limit=MAX_CANDIDATES) if domain else []),
        *crm.find_contacts(company=company, limit=MAX_COMPANY_CANDIDATES),
    ]:
        found.setdefault(contact.contact_id, contact)

    def likeliest_first(contact: Contact) -> tuple[bool, int, bool, str]:
        return (
            name_key(contact.name) != wanted_name,
            -len(wanted_words & set(name_key(contact.name).split())),
            domain is None or email_domain(contact.email) != domain,
            contact.contact_id,
        )

    return sorted(found.values(), key=likeliest_first)[:MAX_CANDIDATES]


def likely_same(candidate: Candidate, *, name: str) -> bool:
    """Code's own reading: the candidate has the referred person's full name or surname."""
    wanted, theirs = name_key(name).split(), name_key(candidate.name).split()
    return bool(wanted and theirs) and (wanted == theirs or wanted[-1] == theirs[-1])


def review_reason(answer_match: str, confidence: str, likely: list[str]) -> str | None:
    """Why a "new" decision needs a person before any reward (``None``: the model was sure)."""
    if answer_match != "none":
        return f"the model named {answer_match} with {confidence} confidence, below the duplicate bar"
    if confidence not in DUPLICATE_CONFIDENCE:
        return "the model answered none with low confidence"
    if likely:
        return f"the model answered none, yet {', '.join(likely)} has the referred person's name or surname"
    return None


def match_referral(request: MatchInput, *, crm: CrmPort, llm: LLMClient, ctx: StepContext) -> Match:
    new_id = referred_contact_id(request.referred_email)
    existing = crm.find_contact_by_email(request.referred_email)
    if existing is not None:
        if _rolled_back(crm, existing):
            return Match(
                decision="new",
                method="email",
                new_contact_id=existing.contact_id,
                matched_contact_id=existing.contact_id,
                matched_status=existing.status,
                reasons="the email belongs to a contact an earlier failed referral run rolled back",
                revived=True,
            )
        return Match(
            decision="duplicate",
            method="email",
            new_contact_id=new_id,
            matched_contact_id=existing.contact_id,
            matched_status=existing.status,
            confidence="high",
            reasons=f"{request.referred_email} is already contact {existing.contact_id} ({existing.status})",
        )
    found = possible_duplicates(
        crm, name=request.referred_name, email=request.referred_email, company=request.referred_company
    )
    candidates = [Candidate.model_validate(c.model_dump(include=set(Candidate.model_fields))) for c in found]
    if not candidates:
        return Match(
            decision="new",
            method="no_candidates",
            new_contact_id=new_id,
            reasons="no contact with this email, company, email domain or name",
        )
    facts = {
        "referred": {
            "name": request.referred_name,
            "email": request.referred_email,
            "company": request.referred_company,
        },
        "candidates": [c.model_dump(mode="json") for c in candidates],
    }
    ids = frozenset(c.contact_id for c in candidates)
    data = json.dumps(facts, sort_keys=True)
    result = llm.structured(
        operation="choose_branch",
        playbook=PLAYBOOK,
        prompt=f"Is the referred person one of the candidates?\n<input>{data}</input>",
        output_model=match_model(ids),
        tool_name="referral_entity_match",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    answer = result.value
    matched = next((c for c in candidates if c.contact_id == answer.match), None)  # re-checked by code
    duplicate = matched is not None and answer.confidence in DUPLICATE_CONFIDENCE
    likely = [c.contact_id for c in candidates if likely_same(c, name=request.referred_name)]
    reason = None if duplicate else review_reason(answer.match, answer.confidence, likely)
    return Match(
        decision="duplicate" if duplicate else "new",
        method="entity_match",
        new_contact_id=new_id,
        matched_contact_id=matched.contact_id if matched else None,
        matched_status=matched.status if matched else None,
        candidates=sorted(ids),
        confidence=answer.confidence,
        reasons=answer.reasons,
        needs_review=reason is not None,
        review_reason=reason,
        llm=result.summary(),
    )


@step_handler(MatchInput)
def handler(request: MatchInput, ctx: StepContext) -> Match:
    return match_referral(request, crm=get_crm(), llm=get_llm_client(), ctx=ctx)
