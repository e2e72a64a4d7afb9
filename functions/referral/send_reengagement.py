"""SendReengagement (irreversible, idempotent): send exactly the approved text to the CRM address.

The recipient is the dormant client as FindDormantClients read it from the CRM, the text comes
from file storage and is checked against the sha256 the approver saw. ``run_once`` keys the send
on (referral, client) and pins the recipient.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import ApprovalDecision, Dormant, ReferredContact, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.business_keys import business_action
from functions.shared.errors import InvalidInputError
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.sending import send_approved_draft
from functions.shared.step_handler import StepContext, step_handler


class SendInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referred: ReferredContact
    dormant: Dormant
    reengagement_approval: ApprovalDecision


def send_reengagement(
    payload: SendInput, *, email: EmailPort, files: FileStore, ctx: StepContext
) -> SentEmailRef:
    client = payload.dormant.contact
    if client is None:
        raise InvalidInputError("no dormant client to write to")
    return send_approved_draft(
        draft=payload.reengagement_approval.draft,
        to=client.email,
        kind="referral_reengagement",
        # One re-engagement of this client per referral (the run that found it dormant), in any run.
        key=business_action(
            "reengagement", payload.referrer_contact_id, payload.referred.email, client.contact_id
        ),
        result_model=SentEmailRef,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(SendInput)
def handler(payload: SendInput, ctx: StepContext) -> SentEmailRef:
    return send_reengagement(payload, email=get_email(), files=get_files(), ctx=ctx)
