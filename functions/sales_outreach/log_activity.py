"""LogActivity (irreversible, idempotent): the sent email goes on the contact's CRM timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.activity import record_outcome
from functions.sales_outreach.models import ApprovalDecision, Lead, Outcome, SentEmailRef
from functions.shared.adapters import get_crm
from functions.shared.business_keys import logged_send
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogSentInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    lead: Lead
    approval: ApprovalDecision
    sent: SentEmailRef


def log_activity(payload: LogSentInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    approval, sent = payload.approval, payload.sent
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.lead.contact_id,
        lead_id=payload.lead_id,
        kind="email_sent",
        key=logged_send(sent.message_id),
        summary=f"Outreach email sent: {sent.subject}",
        details={
            "message_id": sent.message_id,
            "approved_by": approval.approver,
            "edited": approval.edited,
            "body_sha256": sent.body_sha256,
        },
        outcome=Outcome(
            status="sent",
            lead_id=payload.lead_id,
            activity_id="-",
            detail=f"sent to {sent.to}",
            message_id=sent.message_id,
            approved_by=approval.approver,
            edited=approval.edited,
        ),
    )


@step_handler(LogSentInput)
def handler(payload: LogSentInput, ctx: StepContext) -> Outcome:
    return log_activity(payload, crm=get_crm(), ctx=ctx)
