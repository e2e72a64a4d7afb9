"""LogRewarded (irreversible, idempotent): the referral is recorded and rewarded; no dormant client
of the referrer's company needs re-engaging, so the run ends here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import record_outcome
from functions.referral.models import CreditRef, Dormant, Outcome, Person, ReferredContact, dollars
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class RewardedInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referrer: Person
    referred: ReferredContact
    credit: CreditRef | None = None
    dormant: Dormant | None = None


def log_rewarded(payload: RewardedInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    credit = payload.credit
    reward = (
        f"credit {credit.credit_id} of {dollars(credit.amount_cents)} granted"
        if credit
        else "no reward requested"
    )
    referred = payload.referred
    detail = f"Referred {referred.name} ({referred.company}); {reward}; no dormant client to re-engage"
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.referrer.contact_id,
        business_key=payload.referrer_contact_id,
        kind="referral_rewarded",
        summary=detail,
        details={
            "referred_contact_id": payload.referred.contact_id,
            "credit_id": credit.credit_id if credit else None,
            "amount_cents": credit.amount_cents if credit else 0,
        },
        outcome=Outcome(
            status="rewarded",
            referrer_contact_id=payload.referrer_contact_id,
            activity_id="-",
            detail=detail[:500],
            referred_contact_id=payload.referred.contact_id,
            credit_id=credit.credit_id if credit else None,
            approved_by=credit.approved_by if credit else None,
        ),
    )


@step_handler(RewardedInput)
def handler(payload: RewardedInput, ctx: StepContext) -> Outcome:
    return log_rewarded(payload, crm=get_crm(), ctx=ctx)
