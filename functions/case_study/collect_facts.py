"""CollectFacts (pure): the client contact and the won deal, from the CRM.

The CRM port lists deals per contact, so the deal is looked up among the deals of the input's
``contact_id``: a deal id that belongs to another contact is not found rather than mixed up.
Only a won deal makes a case study, and only once: a deal with a ``case_study_published`` activity
on the client's timeline that no later failure unpublished already has one (asking the client for another
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
from functions.shared.ports.crm import Activity, CrmPort
from functions.shared.step_handler import StepContext, step_handler

MAX_SLUG = 120


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


def still_published(history: list[Activity], deal_id: str) -> list[str]:
    """The deal's publications (s3 URIs) that no later failure took down, oldest first.

    Other outcomes (a run rejected, expired or failed without unpublishing) do not undo a
    publication, whatever their order.
    """
    live: list[str] = []
    for activity in history:
        if activity.details.get("deal_id") != deal_id:
            continue
        if activity.kind == "case_study_published":
            live.append(str(activity.details.get("s3_uri")))
        elif activity.kind == "case_study_failed" and activity.details.get("unpublished") is True:
            key = str(activity.details.get("unpublished_key"))
            live = [uri for uri in live if not uri.endswith(f"/{key}")]
    return live


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
    published = still_published(crm.list_activities(contact.contact_id), deal.deal_id)
    if published:
        raise BusinessRuleError(
            f"deal {deal.deal_id} is not eligible: its case study is already published ({published[-1]})"
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
