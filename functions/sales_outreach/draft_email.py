"""DraftEmail (pure + LLM draft): writes the email to file storage; the state keeps key + sha256."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import DraftRef, EmailDraft, Lead, Research
from functions.sales_outreach.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class DraftInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead: Lead
    research: Research
    offer: str
    campaign: str
    sender_name: str


def draft_email(payload: DraftInput, *, files: FileStore, llm: LLMClient, ctx: StepContext) -> DraftRef:
    facts = {
        "lead": {"name": payload.lead.name, "title": payload.lead.title, "company": payload.lead.company},
        "persona": payload.research.persona,
        "pain_points": payload.research.pain_points,
        "offer": payload.offer,
        "campaign": payload.campaign,
        "sender_name": payload.sender_name,
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Write the first outreach email.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
        output_model=EmailDraft,
        tool_name="draft_email",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    key = f"drafts/{ctx.execution}/{ctx.state}-{ctx.attempt}.txt"
    files.put_text(key, result.value.body)
    return DraftRef(
        subject=result.value.subject,
        body_key=key,
        body_sha256=sha256_text(result.value.body),
        llm=result.summary(),
    )


@step_handler(DraftInput)
def handler(payload: DraftInput, ctx: StepContext) -> DraftRef:
    return draft_email(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
