"""SendEmail (irreversible, idempotent): send exactly the approved text to the CRM's address.

The recipient comes from the CRM (``$.lead``), the text from file storage, checked against the
sha256 the approver saw. ``run_once`` keys the send on (execution, step, lead) and pins recipient
and body hash, so a retried invocation after a successful send returns the first result and sends
nothing. The send is the last thing the function does (nothing after it can fail and wipe the
idempotency record).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import ApprovalDecision, Lead, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.errors import PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class SendInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    lead: Lead
    approval: ApprovalDecision


def send_email(payload: SendInput, *, email: EmailPort, files: FileStore, ctx: StepContext) -> SentEmailRef:
    draft = payload.approval.draft
    body = files.get_text(draft.body_key)
    body_sha = sha256_text(body)
    if body_sha != draft.body_sha256:
        raise PermanentIntegrationError(f"draft {draft.body_key} changed after it was approved")

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=payload.lead.email,
                subject=draft.subject,
                body_text=body,
                tags={"kind": "outreach", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentEmailRef(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            body_sha256=body_sha,
            sent_at=sent.sent_at,
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        execution=ctx.execution,
        business_key=payload.lead_id,
        pinned={"to": payload.lead.email, "body_sha256": body_sha},
        result_model=SentEmailRef,
        effect=send,
    )


@step_handler(SendInput)
def handler(payload: SendInput, ctx: StepContext) -> SentEmailRef:
    return send_email(payload, email=get_email(), files=get_files(), ctx=ctx)
