"""RequestMarketingApproval (callback task, reversible → CancelApproval): marketing signs off.

Marketing reviews the text the client approved (with the client's edits, if any); the approver is
the input's ``marketing_approver``. What marketing approves (edited or not) is what gets published.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.approval import ApprovalRequested, request_approval
from functions.case_study.models import ApprovalDecision, Facts
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService
from functions.shared.config import settings
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class MarketingReviewInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    marketing_approver: EmailAddress
    client_approval: ApprovalDecision


def request_marketing_approval(
    payload: MarketingReviewInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    facts, client = payload.facts, payload.client_approval
    edited = " with edits" if client.edited else ""
    action = (
        f"Publish this case study about {facts.company} at {facts.published_key} "
        f"(approved by the client {client.approver}{edited})"
    )
    return request_approval(
        approver=payload.marketing_approver,
        approver_is_client=False,
        action=action,
        document=client.draft,
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(MarketingReviewInput)
def handler(payload: MarketingReviewInput, ctx: StepContext) -> ApprovalRequested:
    return request_marketing_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
