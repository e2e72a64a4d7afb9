"""SendLetter (irreversible, idempotent): send exactly the approved letter to the client's CRM address.

The recipient is read from the CRM (the system of record), the text from file storage and checked
against the sha256 the attorney approved. ``run_once`` keys the send on (client, matter description)
and pins the recipient, so a retry or a rerun after a successful send returns the first result and
sends nothing. The send is the last thing the function does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ApprovalDecision, ClientIdentity, SentLetterRef
from functions.shared.adapters import get_crm, get_email, get_files
from functions.shared.business_keys import business_action, text_identity
from functions.shared.errors import PermanentIntegrationError
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.sending import send_approved_draft
from functions.shared.step_handler import StepContext, step_handler


class SendLetterInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_description: str
    letter_approval: ApprovalDecision


def send_letter(
    payload: SendLetterInput, *, crm: CrmPort, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentLetterRef:
    client_id = payload.identity.client_id
    contact = crm.get_contact(client_id)
    if contact is None:
        raise PermanentIntegrationError(f"client {client_id} is not in the CRM")

    def still_a_client() -> None:  # checked before the first send only: a replay returns the first result
        if contact.status != "client":
            raise PermanentIntegrationError(f"client {client_id} is not a client in the CRM")

    return send_approved_draft(
        draft=payload.letter_approval.draft,
        to=contact.email,
        kind="engagement_letter",
        key=business_action(
            "engagement_letter", payload.identity.client_id, text_identity(payload.matter_description)
        ),
        result_model=SentLetterRef,
        email=email,
        files=files,
        ctx=ctx,
        what="letter",
        precondition=still_a_client,
    )


@step_handler(SendLetterInput)
def handler(payload: SendLetterInput, ctx: StepContext) -> SentLetterRef:
    return send_letter(payload, crm=get_crm(), email=get_email(), files=get_files(), ctx=ctx)
