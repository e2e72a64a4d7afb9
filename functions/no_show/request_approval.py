"""RequestDigestApproval (callback task): park the run until the manager decides on the day's digest.

Invoked through ``lambda:invoke.waitForTaskToken``, once per run: one approval request lists every
high-risk appointment of the day with its recommended action (PrepareDigest's text, in file
storage, is the approval's draft), so one ignored approval never starves the others. The approver
is the workflow's manager as the approver directory allows it (server-side, as for every staff
approval). Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.no_show.models import DigestInput, digest_approval_key
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalRecord, ApprovalService, Draft, approval_email
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class ApprovalRequested(BaseModel):
    approval_id: str
    expires_at: str


def request_approval(
    payload: DigestInput, *, approvals: ApprovalService, email: EmailPort, files: FileStore, ctx: StepContext
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError("request_approval must be invoked with .waitForTaskToken")
    digest, run = payload.digest, payload.signals
    body = files.get_text(digest.body_key)
    if sha256_text(body) != digest.body_sha256:
        raise PermanentIntegrationError(f"digest {digest.body_key} changed after it was written")
    subject = f"No-show risk digest {run.day}: {digest.items} appointment(s) for {run.owner}"[:120]
    record: ApprovalRecord = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=digest_approval_key(run.day),
        approver=payload.manager_email,
        action=(
            f"Approve the recommended actions for {digest.items} high-risk appointment(s) of {run.owner} "
            f"on {run.day} (edits may only leave appointments out); rejecting applies none"
        ),
        draft=Draft(subject=subject, body_key=digest.body_key, body_sha256=digest.body_sha256),
        task_token=ctx.task_token,
    )
    email.send(
        approval_email(
            record, to=payload.manager_email, link=approvals.link(record), body=body, kind="approval_request"
        )
    )
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at)


@step_handler(DigestInput)
def handler(payload: DigestInput, ctx: StepContext) -> ApprovalRequested:
    return request_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
