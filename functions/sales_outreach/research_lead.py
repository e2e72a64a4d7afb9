"""ResearchLead (pure + LLM classify): CRM facts and notes → fit, persona, pain points.

The model only *assesses*; the fit the Choice state reads is decided here by code (model says
"good" and the score clears the bar), so a manipulated note cannot push a lead through alone.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import Lead, LeadAssessment, Research
from functions.sales_outreach.prompts import PLAYBOOK
from functions.shared.adapters import get_crm, get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler

FIT_THRESHOLD = 50
MAX_NOTES_CHARS = 4000


class ResearchInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead: Lead
    offer: str
    campaign: str


def research_lead(
    payload: ResearchInput, *, crm: CrmPort, files: FileStore, llm: LLMClient, ctx: StepContext
) -> Research:
    notes = files.get_text(payload.lead.notes_key)[:MAX_NOTES_CHARS] if payload.lead.notes_key else ""
    facts = {
        "lead": payload.lead.model_dump(mode="json", exclude={"notes_key"}),
        "deals": [deal.model_dump(mode="json") for deal in crm.list_deals(payload.lead.contact_id)],
        "notes": notes,
        "offer": payload.offer,
        "campaign": payload.campaign,
    }
    result = llm.structured(
        operation="classify",
        playbook=PLAYBOOK,
        prompt=f"Assess this lead.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
        output_model=LeadAssessment,
        tool_name="assess_lead",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    assessment = result.value
    fit = "good" if assessment.fit == "good" and assessment.fit_score >= FIT_THRESHOLD else "poor"
    return Research(
        fit=fit,
        fit_score=assessment.fit_score,
        persona=assessment.persona,
        pain_points=assessment.pain_points,
        reasons=assessment.reasons,
        llm=result.summary(),
    )


@step_handler(ResearchInput)
def handler(payload: ResearchInput, ctx: StepContext) -> Research:
    return research_lead(payload, crm=get_crm(), files=get_files(), llm=get_llm_client(), ctx=ctx)
