"""DraftCaseStudy (pure + LLM draft): CRM facts + the client's answers → the case study draft.

The answers come from the document the client approved (``$.answers.draft``, checked against its
sha256). ``answered`` is decided by code: the client edited the questions document (a plain
Approve means "nothing to add", and the draft then relies on the CRM facts alone). The "Results at
a glance" list is built by code from the CRM metrics, so those figures never come from model
text. The draft goes to file storage; the state keeps key + sha256.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.case_study.models import ApprovalDecision, CaseStudyDraft, DraftRef, Facts
from functions.case_study.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.errors import PermanentIntegrationError
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

MAX_INTERVIEW_CHARS = 3000


class DraftInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    answers: ApprovalDecision
    product: str
    angle: str | None = None


def results_at_a_glance(metrics: dict[str, str]) -> list[str]:
    if not metrics:
        return []
    lines = ["## Results at a glance", ""]
    lines += [f"- {name.replace('_', ' ').capitalize()}: {value}" for name, value in sorted(metrics.items())]
    return [*lines, ""]


def case_study_document(facts: Facts, draft: CaseStudyDraft) -> str:
    lines = [
        f"# {draft.title}",
        "",
        draft.summary,
        "",
        *results_at_a_glance(facts.metrics),
        draft.body.strip(),
    ]
    return "\n".join(lines) + "\n"


def draft_case_study(payload: DraftInput, *, files: FileStore, llm: LLMClient, ctx: StepContext) -> DraftRef:
    facts, answers = payload.facts, payload.answers
    interview = files.get_text(answers.draft.body_key)
    if sha256_text(interview) != answers.draft.body_sha256:
        raise PermanentIntegrationError(
            f"answers {answers.draft.body_key} changed after the client sent them"
        )
    data = {
        "client": {
            "name": facts.client_name,
            "first_name": facts.client_name.split()[0],
            "title": facts.title,
            "company": facts.company,
            "industry": facts.industry,
        },
        "deal": {
            "title": facts.deal_title,
            "outcome": facts.outcome,
            "metrics": facts.metrics,
            "amount": f"{facts.amount_cents / 100:.2f} {facts.currency}",
        },
        "product": payload.product,
        "angle": payload.angle,
        "answered": answers.edited,
        "interview": interview[:MAX_INTERVIEW_CHARS],
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Write the case study draft.\n<input>{json.dumps(data, sort_keys=True)}</input>",
        output_model=CaseStudyDraft,
        tool_name="case_study_draft",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    document = case_study_document(facts, result.value)
    key = f"case-studies/{ctx.execution}/draft-{ctx.attempt}.md"
    files.put_text(key, document, content_type="text/markdown; charset=utf-8")
    return DraftRef(
        subject=result.value.title,
        body_key=key,
        body_sha256=sha256_text(document),
        answered=answers.edited,
        llm=result.summary(),
    )


@step_handler(DraftInput)
def handler(payload: DraftInput, ctx: StepContext) -> DraftRef:
    return draft_case_study(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
