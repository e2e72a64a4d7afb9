"""RequestAnswers (callback task, reversible → CancelApproval): the client answers the interview.

No new API route: the interview rides on the approvals mechanism. The approver is the client
contact (the CRM's address, never model text); the "draft" is the questions document. The client
writes the answers under each question and presses Approve, so approve-with-edits carries the
answered document (``$.answers.draft.body_key``); a plain Approve means "nothing to add"; Reject
means the client declined; no decision before the deadline ends the run ``no_answers``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.approval import ApprovalRequested, request_approval
from functions.case_study.models import Facts, QuestionsRef
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService
from functions.shared.config import settings
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class AnswersInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    questions: QuestionsRef


def request_answers(
    payload: AnswersInput, *, approvals: ApprovalService, email: EmailPort, files: FileStore, ctx: StepContext
) -> ApprovalRequested:
    facts = payload.facts
    action = (
        f"Help us write a case study about the {facts.deal_title} project at {facts.company}: "
        "write your answers under each question in the text below (edit the text), then press Approve; "
        "press Reject if you prefer not to take part"
    )
    return request_approval(
        approver=facts.client_email,
        approver_is_client=True,  # the client from the CRM, not a staff approver
        action=action,
        document=payload.questions,
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(AnswersInput)
def handler(payload: AnswersInput, ctx: StepContext) -> ApprovalRequested:
    return request_answers(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
