"""ReengagementRequestApproval (callback task): a person approves the re-engagement email.

Invoked through ``lambda:invoke.waitForTaskToken``; the rewards approver of the request decides
(approve, approve with edits, reject). Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import ApprovalRequested, Dormant, DraftRef, Person
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft, approval_email
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class ReengagementApprovalInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer: Person
    dormant: Dormant
    draft: DraftRef
    rewards_approver: EmailAddress


def request_reengagement_approval(
    payload: ReengagementApprovalInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError("reengagement_request_approval must be invoked with .waitForTaskToken")
    client = payload.dormant.contact
    if client is None:
        raise InvalidInputError("no dormant client to write to")
    action = (
        f"Send this re-engagement email to {client.name} <{client.email}> at {client.company} "
        f"(quiet for {payload.dormant.days_inactive} days; {payload.referrer.name} just referred someone)"
    )
    record = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=ctx.state,
        approver=payload.rewards_approver,
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
        approval_email(
            record,
            to=payload.rewards_approver,
            link=approvals.link(record),
            body=body,
            kind="approval_request",
        )
    )
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at)


@step_handler(ReengagementApprovalInput)
def handler(payload: ReengagementApprovalInput, ctx: StepContext) -> ApprovalRequested:
    return request_reengagement_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
