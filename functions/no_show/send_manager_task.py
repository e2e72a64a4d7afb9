"""SendManagerTask (irreversible, idempotent): the approved task goes to the manager's inbox.

The text is exactly what the manager approved (their edits included), read from file storage and
checked against the sha256 the approval carries; the recipient is the approver from the input,
never an address from model text. ``run_once`` keys the send on (execution, step, event id) and
pins recipient and body hash.
"""

from __future__ import annotations

from functions.no_show.models import ApprovalDecision, IterationInput, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.errors import PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class TaskInput(IterationInput):
    approval: ApprovalDecision


def send_manager_task(
    payload: TaskInput, *, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentEmailRef:
    draft = payload.approval.draft
    body = files.get_text(draft.body_key)
    body_sha = sha256_text(body)
    if body_sha != draft.body_sha256:
        raise PermanentIntegrationError(f"task {draft.body_key} changed after it was approved")
    to = payload.manager_email

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=to,
                subject=f"Task: {draft.subject}"[:200],
                body_text=body,
                tags={"kind": "no_show_task", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentEmailRef(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            sent_at=sent.sent_at,
            body_sha256=body_sha,
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        execution=ctx.execution,
        business_key=payload.appointment.event_id,
        pinned={"to": to, "body_sha256": body_sha},
        result_model=SentEmailRef,
        effect=send,
    )


@step_handler(TaskInput)
def handler(payload: TaskInput, ctx: StepContext) -> SentEmailRef:
    return send_manager_task(payload, email=get_email(), files=get_files(), ctx=ctx)
