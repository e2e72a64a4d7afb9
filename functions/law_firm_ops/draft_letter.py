"""DraftLetter (pure + LLM draft): the engagement letter, with the fee schedule appended by code.

The model writes the prose and is refused (re-prompted) if it states any amount; the rate and the
retainer come from the intake request and are formatted here, so the letter the attorney approves
and the billing set-up that follows use the same figures. The text goes to file storage; the state
keeps key + sha256.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, DraftRef, EngagementLetterDraft, Matter
from functions.law_firm_ops.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class LetterInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter: Matter
    attorney_email: str
    hourly_rate_cents: int
    retainer_cents: int


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def fee_schedule(hourly_rate_cents: int, retainer_cents: int) -> str:
    return (
        "\n\n--- Fee schedule ---\n"
        f"Hourly rate: {money(hourly_rate_cents)} per hour, billed in six-minute increments.\n"
        f"Retainer: {money(retainer_cents)}, invoiced when the engagement starts and applied to "
        "the final invoice of the matter.\n"
    )


def draft_letter(payload: LetterInput, *, files: FileStore, llm: LLMClient, ctx: StepContext) -> DraftRef:
    facts = {
        "client": {"name": payload.identity.name, "company": payload.identity.company},
        "matter": {"type": payload.matter.matter_type, "summary": payload.matter.summary},
        "attorney_email": payload.attorney_email,
        "terms": "hourly billing in six-minute increments; retainer and rate in the appended fee schedule",
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Draft the engagement letter.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
        output_model=EngagementLetterDraft,
        tool_name="law_firm_engagement_letter",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    body = result.value.body.rstrip() + fee_schedule(payload.hourly_rate_cents, payload.retainer_cents)
    key = f"drafts/{ctx.execution}/{ctx.state}-{ctx.attempt}.txt"
    files.put_text(key, body)
    return DraftRef(
        subject=result.value.subject, body_key=key, body_sha256=sha256_text(body), llm=result.summary()
    )


@step_handler(LetterInput)
def handler(payload: LetterInput, ctx: StepContext) -> DraftRef:
    return draft_letter(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
