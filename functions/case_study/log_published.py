"""LogPublished (irreversible, idempotent): the publication goes on the client's CRM timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.activity import record_outcome
from functions.case_study.models import ApprovalDecision, Facts, Outcome, Published
from functions.shared.adapters import get_crm
from functions.shared.business_keys import business_action
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogPublishedInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str
    facts: Facts
    client_approval: ApprovalDecision
    marketing_approval: ApprovalDecision
    published: Published


def log_published(payload: LogPublishedInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    client, marketing, published = payload.client_approval, payload.marketing_approval, payload.published
    edited = client.edited or marketing.edited
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.facts.contact_id,
        deal_id=payload.deal_id,
        kind="case_study_published",
        key=business_action("logged_publication", payload.deal_id),
        summary=f"Case study published: {marketing.draft.subject} ({published.uri})",
        details={
            "s3_uri": published.uri,
            "body_sha256": published.body_sha256,
            "client_approved_by": client.approver,
            "marketing_approved_by": marketing.approver,
            "edited": edited,
        },
        outcome=Outcome(
            status="published",
            deal_id=payload.deal_id,
            activity_id="-",
            detail=f"published at {published.uri}",
            s3_uri=published.uri,
            approved_by=[client.approver, marketing.approver],
            edited=edited,
        ),
    )


@step_handler(LogPublishedInput)
def handler(payload: LogPublishedInput, ctx: StepContext) -> Outcome:
    return log_published(payload, crm=get_crm(), ctx=ctx)
