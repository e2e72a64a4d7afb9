"""RequestClientApproval (callback task, reversible → CancelApproval): the client approves the draft.

The approver is the client contact from the CRM. Approve, approve with edits (the edited text is
what marketing reviews next) or reject (nothing is published).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.approval import ApprovalRequested, request_approval
from functions.case_study.models import DraftRef, Facts
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService
from functions.shared.config import settings
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class ClientReviewInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    draft: DraftRef


def request_client_approval(
    payload: ClientReviewInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    facts = payload.facts
    action = (
        f"Approve the publication of this case study about {facts.company} on our website "
        "(edit the text if something is wrong); press Reject to stop it"
    )
    return request_approval(
        approver=facts.client_email,
        approver_is_client=True,  # the client from the CRM, not a staff approver
        action=action,
        document=payload.draft,
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(ClientReviewInput)
def handler(payload: ClientReviewInput, ctx: StepContext) -> ApprovalRequested:
    return request_client_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
