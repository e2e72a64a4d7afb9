"""ClassifyMatter (pure + LLM classify/extract): intake text → matter type, summary and parties.

The model only classifies and extracts: the matter type is a closed ``Literal`` list, parties are a
bounded list with closed roles, and the conflict decision that follows is made by code on CRM data.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, Matter, MatterClassification
from functions.law_firm_ops.prompts import PLAYBOOK
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.step_handler import StepContext, step_handler


class ClassifyInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_description: str


def classify_matter(payload: ClassifyInput, *, llm: LLMClient, ctx: StepContext) -> Matter:
    facts = {
        "client": {"name": payload.identity.name, "company": payload.identity.company},
        "matter_description": payload.matter_description,
    }
    result = llm.structured(
        operation="classify",
        playbook=PLAYBOOK,
        prompt=(
            f"Classify this matter and list its parties.\n<input>{json.dumps(facts, sort_keys=True)}</input>"
        ),
        output_model=MatterClassification,
        tool_name="law_firm_classify_matter",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    value = result.value
    return Matter(
        matter_type=value.matter_type, summary=value.summary, parties=value.parties, llm=result.summary()
    )


@step_handler(ClassifyInput)
def handler(payload: ClassifyInput, ctx: StepContext) -> Matter:
    return classify_matter(payload, llm=get_llm_client(), ctx=ctx)
