"""CollectFacts (pure): the client contact and the won deal, from the CRM.

The CRM port lists deals per contact, so the deal is looked up among the deals of the input's
``contact_id``: a deal id that belongs to another contact is not found rather than mixed up.
Only a won deal makes a case study, and only once: a deal whose latest case-study outcome on the
client's timeline is ``case_study_published`` already has one (asking the client for another
interview and both reviewers for another review would be wasted work, and Publish would refuse the
second text anyway). Either is a ``BusinessRuleError`` that the ASL routes to the ``not_eligible``
end. The published slug is derived here, once, from CRM data only, and always ends with the whole
deal id, so two deals of one company never share a slug.
"""

from __future__ import annotations

import re

from functions.case_study.models import CaseStudyRequest, Facts
from functions.shared.adapters import get_crm
from functions.shared.errors import BusinessRuleError, InvalidInputError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

MAX_SLUG = 120
#: Every case-study run ends with one ``case_study_<outcome>`` activity; the latest for a deal counts
#: (a publication undone by a later failure is followed by ``case_study_failed``).
_OUTCOME_PREFIX = "case_study_"


def slugify(*parts: str) -> str:
    words = re.findall(r"[a-z0-9]+", " ".join(parts).lower())
    return "-".join(words)


def case_study_slug(company: str, deal_id: str) -> str:
    """``<company words>-<deal id words>``, at most ``MAX_SLUG`` characters; the company part is cut first."""
    deal = slugify(deal_id)[:MAX_SLUG]
    room = MAX_SLUG - len(deal) - 1
    company_part = slugify(company)[:room].strip("-") if room > 0 else ""
    return f"{company_part}-{deal}" if company_part else deal


def is_won(outcome: str | None) -> bool:
    """``"won"`` or ``"won: <note>"`` (the CRM's free-text outcome field), case-insensitive."""
    return (outcome or "").split(":", 1)[0].strip().lower() == "won"


def collect_facts(request: CaseStudyRequest, crm: CrmPort) -> Facts:
    contact = crm.get_contact(request.contact_id)
    if contact is None:
        raise InvalidInputError(f"contact {request.contact_id} not found in the CRM")
    deal = next((d for d in crm.list_deals(contact.contact_id) if d.deal_id == request.deal_id), None)
    if deal is None:
        raise InvalidInputError(f"deal {request.deal_id} not found among the deals of {contact.contact_id}")
    if not is_won(deal.outcome):
        raise BusinessRuleError(
            f"deal {deal.deal_id} is not eligible for a case study: outcome {deal.outcome or 'none'!r}"
        )
    if contact.do_not_contact:
        raise BusinessRuleError(
            f"deal {deal.deal_id} is not eligible: {contact.contact_id} is do-not-contact"
        )
    outcomes = [
        a
        for a in crm.list_activities(contact.contact_id)
        if a.kind.startswith(_OUTCOME_PREFIX) and a.details.get("deal_id") == deal.deal_id
    ]
    if outcomes and outcomes[-1].kind == "case_study_published":
        raise BusinessRuleError(
            f"deal {deal.deal_id} is not eligible: its case study is already published "
            f"({outcomes[-1].details.get('s3_uri')})"
        )
    return Facts(
        contact_id=contact.contact_id,
        client_name=contact.name,
        client_email=contact.email,
        company=contact.company,
        title=contact.title,
        industry=contact.industry,
        deal_id=deal.deal_id,
        deal_title=deal.title,
        stage=deal.stage,
        amount_cents=deal.amount_cents,
        currency=deal.currency,
        outcome=deal.outcome or "",
        metrics=dict(deal.metrics),
        slug=case_study_slug(contact.company, deal.deal_id),
    )


@step_handler(CaseStudyRequest)
def handler(request: CaseStudyRequest, ctx: StepContext) -> Facts:
    return collect_facts(request, get_crm())
