"""RequestApproval (callback task): park the run until a person approves the draft.

Invoked through ``lambda:invoke.waitForTaskToken``: the token arrives in the event, is sealed and
stored by the approvals service, and the approver gets an email with a signed link (approval id +
HMAC), never the token. What this Lambda returns is ignored; the run resumes when the decision
calls ``SendTaskSuccess``/``SendTaskFailure``. Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import DraftRef, Lead
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class ApprovalInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead: Lead
    draft: DraftRef
    approver_email: EmailAddress
    campaign: str


class ApprovalRequested(BaseModel):
    approval_id: str
    expires_at: str


def request_approval(
    payload: ApprovalInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError("request_approval must be invoked with .waitForTaskToken")
    lead = payload.lead
    action = f"Send this email to {lead.name} <{lead.email}> at {lead.company} (campaign {payload.campaign})"
    record = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=ctx.state,
        approver=payload.approver_email,
        action=action,
        draft=Draft(
            subject=payload.draft.subject,
            body_key=payload.draft.body_key,
            body_sha256=payload.draft.body_sha256,
        ),
        task_token=ctx.task_token,
    )
    body = files.get_text(payload.draft.body_key)
    email.send(
        OutgoingEmail(
            to=payload.approver_email,
            subject=f"Approval needed: {payload.draft.subject}"[:200],
            body_text=(
                f"{action}.\n\n"
                "Open the link to review, edit, approve or reject; opening it changes nothing.\n"
                f"{approvals.link(record)}\n\nThe link expires at {record.expires_at}.\n\n"
                f"--- Subject ---\n{payload.draft.subject}\n\n--- Body ---\n{body}\n"
            ),
            tags={"kind": "approval_request", "workflow": ctx.workflow},
        )
    )
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at)


@step_handler(ApprovalInput)
def handler(payload: ApprovalInput, ctx: StepContext) -> ApprovalRequested:
    return request_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
