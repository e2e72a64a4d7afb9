"""SendEmail (irreversible, idempotent): send exactly the approved text to the CRM's address.

The recipient comes from the CRM (``$.lead``), the text from file storage, checked against the
sha256 the approver saw. ``run_once`` keys the send on (lead, campaign) (``business_keys``) and pins
the recipient, so a retry or a rerun after a successful send returns the first result and sends
nothing. The send is the last thing the function does (nothing after it can fail and wipe the
idempotency record).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import ApprovalDecision, Lead, SentEmailRef
from functions.shared.adapters import get_email, get_files
from functions.shared.business_keys import business_action
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.sending import send_approved_draft
from functions.shared.step_handler import StepContext, step_handler


class SendInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    campaign: str
    lead: Lead
    approval: ApprovalDecision


def send_email(payload: SendInput, *, email: EmailPort, files: FileStore, ctx: StepContext) -> SentEmailRef:
    return send_approved_draft(
        draft=payload.approval.draft,
        to=payload.lead.email,
        kind="outreach",
        key=business_action("outreach_email", payload.lead_id, payload.campaign),
        result_model=SentEmailRef,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(SendInput)
def handler(payload: SendInput, ctx: StepContext) -> SentEmailRef:
    return send_email(payload, email=get_email(), files=get_files(), ctx=ctx)
