"""SendManagerTask (irreversible, idempotent): the approved task goes to the manager's inbox.

The text is exactly what the manager approved (their edits included), read from file storage and
checked against the sha256 the approval carries; the recipient is the approver from the input,
never an address from model text. ``run_once`` keys the send on (execution, step, event id) and
pins recipient and body hash.
"""

from __future__ import annotations

from functions.no_show.models import ApprovalDecision, IterationInput, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.sending import send_approved_draft
from functions.shared.step_handler import StepContext, step_handler


class TaskInput(IterationInput):
    approval: ApprovalDecision


def send_manager_task(
    payload: TaskInput, *, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentEmailRef:
    draft = payload.approval.draft
    return send_approved_draft(
        draft=draft,
        to=payload.manager_email,
        kind="no_show_task",
        business_key=payload.appointment.event_id,
        result_model=SentEmailRef,
        email=email,
        files=files,
        ctx=ctx,
        subject=f"Task: {draft.subject}"[:200],
        what="task",
    )


@step_handler(TaskInput)
def handler(payload: TaskInput, ctx: StepContext) -> SentEmailRef:
    return send_manager_task(payload, email=get_email(), files=get_files(), ctx=ctx)
