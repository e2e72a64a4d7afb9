"""DraftReengagement (pure + LLM draft): a short re-engagement email to the dormant client.

The model gets the client's name, title and company, how long they have been quiet, and the
sender; it returns subject + body, which go to file storage (the state keeps key + sha256). The
recipient is never taken from the draft: SendReengagement uses the CRM address.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.referral.models import Dormant, DraftRef, Person, ReengagementDraft
from functions.referral.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.errors import InvalidInputError
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class DraftInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer: Person
    dormant: Dormant


def draft_reengagement(
    payload: DraftInput, *, files: FileStore, llm: LLMClient, ctx: StepContext
) -> DraftRef:
    client = payload.dormant.contact
    if client is None:
        raise InvalidInputError("draft_reengagement needs a dormant client")
    facts = {
        "client": {
            "name": client.name,
            "first_name": client.first_name,
            "title": client.title,
            "company": client.company,
        },
        "days_inactive": payload.dormant.days_inactive,
        "dormant_reason": payload.dormant.reason,
        "sender_name": "The Stepwise team",
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Write the re-engagement email.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
        output_model=ReengagementDraft,
        tool_name="referral_reengagement_email",
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
    return draft_reengagement(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
