"""GrantCredit (irreversible, idempotent): the referral reward becomes a billing credit, once.

The amount and the client come from the execution input and the CRM, never from model text or an
approver's edit. The credit id is derived from the execution (billing ignores a second grant with
the same id) and ``run_once`` pins client and amount, so a retried invocation grants nothing twice.
A reward above the threshold, or any reward after an unsure entity match (``Match.needs_review``),
is refused here too unless the run carries the approval (defence in depth behind the ASL Choice).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import (
    REWARD_APPROVAL_THRESHOLD_CENTS,
    ApprovalDecision,
    CreditRef,
    Match,
    Person,
    ReferredContact,
)
from functions.shared.adapters import get_billing
from functions.shared.business_keys import business_action, text_identity
from functions.shared.errors import BusinessRuleError
from functions.shared.idempotency import run_once
from functions.shared.ports.billing import BillingPort, Credit
from functions.shared.ports.crm import utc_now_iso
from functions.shared.step_handler import StepContext, step_handler


class GrantInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    reward_cents: int
    referrer: Person
    referred: ReferredContact
    reward_approval: ApprovalDecision | None = None
    match: Match | None = None


def grant_credit(payload: GrantInput, *, billing: BillingPort, ctx: StepContext) -> CreditRef:
    if payload.reward_cents <= 0:
        raise BusinessRuleError("no reward to grant")
    approved_by = payload.reward_approval.approver if payload.reward_approval else None
    if payload.reward_cents > REWARD_APPROVAL_THRESHOLD_CENTS and approved_by is None:
        raise BusinessRuleError(f"a reward of {payload.reward_cents} cents needs an approval")
    if payload.match is not None and payload.match.needs_review and approved_by is None:
        raise BusinessRuleError(f"an unsure match needs an approval first: {payload.match.review_reason}")
    # One reward per referral (referrer + referred person), in any run; the credit id follows it so
    # the billing system's own idempotency agrees with ours.
    key = business_action("referral_reward", payload.referrer_contact_id, payload.referred.email)
    credit_id = f"REFERRAL-{text_identity(key.value)}"
    client_id = payload.referrer.contact_id

    def grant() -> CreditRef:
        granted_at = utc_now_iso()
        billing.grant_credit(
            Credit(
                credit_id=credit_id,
                client_id=client_id,
                amount_cents=payload.reward_cents,
                reason=f"Referral reward: {payload.referred.name} ({payload.referred.company})"[:200],
                granted_at=granted_at,
            )
        )
        return CreditRef(
            credit_id=credit_id,
            client_id=client_id,
            amount_cents=payload.reward_cents,
            granted_at=granted_at,
            approved_by=approved_by,
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=key,
        pinned={"client_id": client_id, "amount_cents": payload.reward_cents},
        result_model=CreditRef,
        effect=grant,
    )


@step_handler(GrantInput)
def handler(payload: GrantInput, ctx: StepContext) -> CreditRef:
    return grant_credit(payload, billing=get_billing(), ctx=ctx)
