"""LogDuplicate (irreversible, idempotent): the referred person is already known; the run ends.

The referral is recorded on the referrer's timeline (who they referred, which contact it matched
and how); nothing is created, sent or credited.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import record_outcome
from functions.referral.models import Match, Outcome, Person
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class DuplicateInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referred_name: str
    referred_email: str
    referrer: Person
    match: Match


def log_duplicate(payload: DuplicateInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    match = payload.match
    detail = (
        f"{payload.referred_name} <{payload.referred_email}> is already contact {match.matched_contact_id}"
        f" (status {match.matched_status}; matched by {match.method}): {match.reasons}"
    )[:500]
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.referrer.contact_id,
        business_key=payload.referrer_contact_id,
        kind="referral_duplicate",
        summary=detail,
        details={"matched_contact_id": match.matched_contact_id, "method": match.method},
        outcome=Outcome(
            status="duplicate",
            referrer_contact_id=payload.referrer_contact_id,
            activity_id="-",
            detail=detail,
            referred_contact_id=match.matched_contact_id,
        ),
    )


@step_handler(DuplicateInput)
def handler(payload: DuplicateInput, ctx: StepContext) -> Outcome:
    return log_duplicate(payload, crm=get_crm(), ctx=ctx)
