"""WriteQuestions (pure + LLM draft): CRM facts → the interview questions document for the client.

The model writes the intro and the questions; code numbers them, adds the answer slots and the
instructions, and stores the document in file storage. The state keeps key + sha256.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from functions.case_study.models import Facts, InterviewQuestions, QuestionsRef
from functions.case_study.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

ANSWER_SLOT = "Answer:"


class QuestionsInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    product: str
    angle: str | None = None


def questions_document(facts: Facts, questions: InterviewQuestions) -> str:
    lines = [
        f"Case study interview: {facts.company} ({facts.deal_title})",
        "",
        questions.intro,
        "",
        f"How to answer: write your answers below each question, after '{ANSWER_SLOT}', then press",
        "Approve. Skip any question you prefer not to answer. Press Reject if you would rather not",
        "take part; nothing will be published without your approval of the final text.",
        "",
    ]
    for number, question in enumerate(questions.questions, 1):
        lines += [f"{number}. {question}", ANSWER_SLOT, ""]
    return "\n".join(lines)


def write_questions(
    payload: QuestionsInput, *, files: FileStore, llm: LLMClient, ctx: StepContext
) -> QuestionsRef:
    facts = payload.facts
    data = {
        "client": {
            "name": facts.client_name,
            "first_name": facts.client_name.split()[0],
            "title": facts.title,
            "company": facts.company,
            "industry": facts.industry,
        },
        "deal": {"title": facts.deal_title, "outcome": facts.outcome, "metrics": facts.metrics},
        "product": payload.product,
        "angle": payload.angle,
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Write the interview questions.\n<input>{json.dumps(data, sort_keys=True)}</input>",
        output_model=InterviewQuestions,
        tool_name="case_study_questions",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    document = questions_document(facts, result.value)
    key = f"case-studies/{ctx.execution}/questions-{ctx.attempt}.txt"
    files.put_text(key, document)
    return QuestionsRef(
        subject=f"Interview questions: {facts.company} case study"[:120],
        body_key=key,
        body_sha256=sha256_text(document),
        count=len(result.value.questions),
        llm=result.summary(),
    )


@step_handler(QuestionsInput)
def handler(payload: QuestionsInput, ctx: StepContext) -> QuestionsRef:
    return write_questions(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
