"""LogDuplicate (irreversible, idempotent): the referred person is already known; the run ends.

The referral is recorded on the referrer's timeline (who they referred, which contact it matched
and how); nothing is created, sent or credited. ReviewMatch's Catch ends here too: an unsure match
the rewards approver rejected, or nobody confirmed before the deadline (``$.approvalError``), is
treated as a person the firm knows; approver and comment come from the approvals table, as
``SendTaskFailure`` carries only the error name reliably.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import record_outcome
from functions.referral.log_rejection import EXPIRY_ERRORS
from functions.referral.models import Match, Outcome, Person
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class DuplicateInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referred_name: str
    referred_email: str
    referrer: Person
    match: Match
    approvalError: CaughtError | None = None  # set by ReviewMatch's Catch


REVIEW_STATE = "ReviewMatch"


def review_verdict(error: CaughtError, approvals: ApprovalStore, execution: str) -> str:
    """Who said "not new" after an unsure match, and why (or that nobody decided in time)."""
    if error.Error in EXPIRY_ERRORS:
        return "nobody confirmed a new person before the deadline; default decision: reject"
    rejected = [
        r for r in approvals.for_execution(execution) if r.status == "REJECTED" and r.state == REVIEW_STATE
    ]
    latest = max(rejected, key=lambda r: r.decided_at or "", default=None)
    if latest is None:
        return f"rejected: {error.Cause or error.Error}"
    return f"rejected by {latest.decided_by}: {latest.comment or 'no comment'}"


def log_duplicate(
    payload: DuplicateInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    match = payload.match
    if payload.approvalError is None:
        detail = (
            f"{payload.referred_name} <{payload.referred_email}> is already contact"
            f" {match.matched_contact_id} (status {match.matched_status}; matched by {match.method}):"
            f" {match.reasons}"
        )[:500]
    else:
        detail = (
            f"{payload.referred_name} <{payload.referred_email}> was not confirmed as a new person "
            f"({match.review_reason}); {review_verdict(payload.approvalError, approvals, ctx.execution)}"
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
    return log_duplicate(payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx)
