"""LogReengagement (irreversible, idempotent): the re-engagement email goes on the dormant
client's CRM timeline and the run ends."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import record_outcome
from functions.referral.models import (
    ApprovalDecision,
    CreditRef,
    Dormant,
    Outcome,
    ReferredContact,
    SentEmailRef,
)
from functions.shared.adapters import get_crm
from functions.shared.business_keys import logged_send
from functions.shared.errors import InvalidInputError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class LogSentInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referred: ReferredContact
    dormant: Dormant
    reengagement_approval: ApprovalDecision
    reengagement_sent: SentEmailRef
    credit: CreditRef | None = None


def log_reengagement(payload: LogSentInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    client = payload.dormant.contact
    if client is None:
        raise InvalidInputError("no dormant client")
    sent, approval = payload.reengagement_sent, payload.reengagement_approval
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=client.contact_id,
        business_key=client.contact_id,
        kind="reengagement_sent",
        key=logged_send(sent.message_id),
        summary=f"Re-engagement email sent: {sent.subject}",
        details={
            "message_id": sent.message_id,
            "approved_by": approval.approver,
            "edited": approval.edited,
            "body_sha256": sent.body_sha256,
            "referrer_contact_id": payload.referrer_contact_id,
        },
        outcome=Outcome(
            status="reengaged",
            referrer_contact_id=payload.referrer_contact_id,
            activity_id="-",
            detail=f"re-engagement email sent to {sent.to} ({payload.dormant.reason})"[:500],
            referred_contact_id=payload.referred.contact_id,
            credit_id=payload.credit.credit_id if payload.credit else None,
            reengaged_contact_id=client.contact_id,
            message_id=sent.message_id,
            approved_by=approval.approver,
        ),
    )


@step_handler(LogSentInput)
def handler(payload: LogSentInput, ctx: StepContext) -> Outcome:
    return log_reengagement(payload, crm=get_crm(), ctx=ctx)
