"""Parking the run on a person (callback tasks): shared by the answers request and both reviews.

Invoked through ``lambda:invoke.waitForTaskToken``: the token arrives in the event, is sealed and
stored by the approvals service, and the person gets an email with a signed link (approval id +
HMAC), never the token. What the Lambda returns is ignored; the run resumes when a decision (or
the SLA sweeper's expiry) calls ``SendTaskSuccess``/``SendTaskFailure``. The sweeper's ladder
(reminder after 24 h, escalation after 48 h, expiry at 72 h) applies to every pending approval.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.case_study.models import DocumentRef
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
    approver_is_client: bool,
    action: str,
    document: DocumentRef,
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
        draft=Draft(subject=document.subject, body_key=document.body_key, body_sha256=document.body_sha256),
        task_token=ctx.task_token,
        approver_is_client=approver_is_client,
    )
    body = files.get_text(document.body_key)
    email.send(
        approval_email(
            record, to=record.approver, link=approvals.link(record), body=body, kind="approval_request"
        )
    )
    return ApprovalRequested(
        approval_id=record.approval_id, approver=record.approver, expires_at=record.expires_at
    )
