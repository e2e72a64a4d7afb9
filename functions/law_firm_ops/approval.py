"""Parking the run on a person (callback tasks): shared by the three approvals of this flow.

Invoked through ``lambda:invoke.waitForTaskToken``: the token arrives in the event, is sealed and
stored by the approvals service, and the approver gets an email with a signed link (approval id +
HMAC), never the token. What the Lambda returns is ignored; the run resumes when a decision (or the
SLA sweeper's expiry) calls ``SendTaskSuccess``/``SendTaskFailure``. Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.shared.approvals import ApprovalService, Draft, approval_email
from functions.shared.errors import InvalidInputError
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext


class ApprovalRequested(BaseModel):
    approval_id: str
    approver: str
    expires_at: str


def request_approval(
    *,
    approver: str,
    action: str,
    draft: Draft,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError(f"{ctx.step} must be invoked with .waitForTaskToken")
    record = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=ctx.state,
        approver=approver,
        action=action,
        draft=draft,
        task_token=ctx.task_token,
    )
    body = files.get_text(draft.body_key)
    email.send(
        approval_email(record, to=approver, link=approvals.link(record), body=body, kind="approval_request")
    )
    return ApprovalRequested(approval_id=record.approval_id, approver=approver, expires_at=record.expires_at)
