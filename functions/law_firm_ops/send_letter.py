"""SendLetter (irreversible, idempotent): send exactly the approved letter to the client's CRM address.

The recipient is read from the CRM (the system of record), the text from file storage and checked
against the sha256 the attorney approved. ``run_once`` keys the send on (execution, step, client)
and pins recipient and body hash, so a retried invocation after a successful send returns the
first result and sends nothing. The send is the last thing the function does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ApprovalDecision, ClientIdentity, SentLetterRef
from functions.shared.adapters import get_crm, get_email, get_files
from functions.shared.errors import PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class SendLetterInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    letter_approval: ApprovalDecision


def send_letter(
    payload: SendLetterInput, *, crm: CrmPort, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentLetterRef:
    contact = crm.get_contact(payload.identity.client_id)
    if contact is None or contact.status != "client":
        raise PermanentIntegrationError(f"client {payload.identity.client_id} is not a client in the CRM")
    draft = payload.letter_approval.draft
    body = files.get_text(draft.body_key)
    body_sha = sha256_text(body)
    if body_sha != draft.body_sha256:
        raise PermanentIntegrationError(f"letter {draft.body_key} changed after it was approved")

    def send() -> SentLetterRef:
        sent = email.send(
            OutgoingEmail(
                to=contact.email,
                subject=draft.subject,
                body_text=body,
                tags={"kind": "engagement_letter", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentLetterRef(
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
        business_key=payload.identity.client_id,
        pinned={"to": contact.email, "body_sha256": body_sha},
        result_model=SentLetterRef,
        effect=send,
    )


@step_handler(SendLetterInput)
def handler(payload: SendLetterInput, ctx: StepContext) -> SentLetterRef:
    return send_letter(payload, crm=get_crm(), email=get_email(), files=get_files(), ctx=ctx)
