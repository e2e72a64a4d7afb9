"""SendReengagement (irreversible, idempotent): send exactly the approved text to the CRM address.

The recipient is the dormant client as FindDormantClients read it from the CRM, the text comes
from file storage and is checked against the sha256 the approver saw. ``run_once`` keys the send
on (execution, step, client) and pins recipient and body hash.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import ApprovalDecision, Dormant, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class SendInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dormant: Dormant
    reengagement_approval: ApprovalDecision


def send_reengagement(
    payload: SendInput, *, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentEmailRef:
    client = payload.dormant.contact
    if client is None:
        raise InvalidInputError("no dormant client to write to")
    draft = payload.reengagement_approval.draft
    body = files.get_text(draft.body_key)
    body_sha = sha256_text(body)
    if body_sha != draft.body_sha256:
        raise PermanentIntegrationError(f"draft {draft.body_key} changed after it was approved")

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=client.email,
                subject=draft.subject,
                body_text=body,
                tags={"kind": "referral_reengagement", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
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
        business_key=client.contact_id,
        pinned={"to": client.email, "body_sha256": body_sha},
        result_model=SentEmailRef,
        effect=send,
    )


@step_handler(SendInput)
def handler(payload: SendInput, ctx: StepContext) -> SentEmailRef:
    return send_reengagement(payload, email=get_email(), files=get_files(), ctx=ctx)
