"""LogDisqualified (irreversible, idempotent): a poor fit is recorded in the CRM and the run ends."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.activity import record_outcome
from functions.sales_outreach.models import Lead, Outcome, Research
from functions.shared.adapters import get_crm
from functions.shared.errors import BusinessRuleError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class DisqualifyInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    lead: Lead
    research: Research


def log_disqualified(payload: DisqualifyInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    try:
        crm.set_status(payload.lead.contact_id, "disqualified", expected=payload.lead.status)
    except BusinessRuleError:
        current = crm.get_contact(payload.lead.contact_id)
        if current is None or current.status != "disqualified":  # someone else changed it: leave it alone
            raise
    detail = f"fit score {payload.research.fit_score}: {payload.research.reasons}"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.lead.contact_id,
        lead_id=payload.lead_id,
        kind="disqualified",
        summary=detail,
        details={"fit_score": payload.research.fit_score, "persona": payload.research.persona},
        outcome=Outcome(status="disqualified", lead_id=payload.lead_id, activity_id="-", detail=detail[:500]),
    )


@step_handler(DisqualifyInput)
def handler(payload: DisqualifyInput, ctx: StepContext) -> Outcome:
    return log_disqualified(payload, crm=get_crm(), ctx=ctx)
