"""RewardRequestApproval (callback task): a reward waits for the rewards approver.

Two states invoke it. RewardRequestApproval asks for a reward above the threshold. ReviewMatch
asks, after an unsure entity match (``Match.needs_review``) and before anything is created or sent,
whether the referred person is new: the body says why and names the amount, so one approval covers
person and reward (GrantCredit accepts it), and a rejection leaves nothing to undo.

Invoked through ``lambda:invoke.waitForTaskToken``. The summary the approver reads is written to
file storage (approvals show a subject + body); the amount that GrantCredit books comes from the
execution input, so an "approve with edits" cannot change it. Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import ApprovalRequested, Match, Person, ReferredContact, dollars
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft, approval_email
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class RewardApprovalInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer: Person
    referred: ReferredContact | None = None  # None: ReviewMatch, before the contact exists
    referred_name: str
    referred_email: EmailAddress
    referred_company: str
    reward_cents: int
    rewards_approver: EmailAddress
    note: str | None = None
    match: Match | None = None


def match_review(payload: RewardApprovalInput, amount: str) -> tuple[str, str, str]:
    """ReviewMatch: is the referred person new? Nothing exists yet, so a rejection undoes nothing."""
    referrer, match = payload.referrer, payload.match
    reason = match.review_reason if match is not None else None
    subject = f"Referral: is {payload.referred_name} new? ({amount} credit for {referrer.name})"[:120]
    body = (
        f"{referrer.name} ({referrer.company}, client {referrer.contact_id}) referred "
        f"{payload.referred_name} <{payload.referred_email}> at {payload.referred_company}, "
        f"asking a {amount} account credit.\n\n"
        f"The duplicate check is unsure: {reason or 'no reason recorded'}.\n"
        + (f"Referrer's note: {payload.note}\n" if payload.note else "")
        + "\nApprove if this is a person the firm does not know yet: the contact is created, the "
        f"referrer is thanked and {amount} is credited.\n"
        "Reject if the firm already knows them: nothing is created, sent or credited.\n"
        "The amount is fixed by the referral request: editing this text does not change it.\n"
    )
    action = f"Confirm {payload.referred_name} as a new referral and grant {referrer.name} {amount}"
    return subject, body, action


def reward_review(
    payload: RewardApprovalInput, referred: ReferredContact, amount: str
) -> tuple[str, str, str]:
    """RewardRequestApproval: a reward above the threshold, for a referral already recorded."""
    referrer = payload.referrer
    subject = f"Referral reward: {amount} account credit for {referrer.name}"[:120]
    body = (
        f"Grant a referral reward of {amount} as an account credit to {referrer.name} "
        f"({referrer.company}, client {referrer.contact_id}).\n\n"
        f"Referred: {referred.name} <{referred.email}> at {referred.company}"
        f" (new contact {referred.contact_id}).\n"
        + (f"Referrer's note: {payload.note}\n" if payload.note else "")
        + "\nThe amount is fixed by the referral request: editing this text does not change it.\n"
        "Rejecting grants no credit; the referral itself stays recorded.\n"
    )
    action = f"Grant a {amount} referral credit to {referrer.name} ({referrer.contact_id})"
    return subject, body, action


def request_reward_approval(
    payload: RewardApprovalInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    if ctx.task_token is None:
        raise InvalidInputError("reward_request_approval must be invoked with .waitForTaskToken")
    referred = payload.referred
    amount = dollars(payload.reward_cents)
    if referred is None:
        subject, body, action = match_review(payload, amount)
    else:
        subject, body, action = reward_review(payload, referred, amount)
    key = f"approvals/{ctx.execution}/{ctx.state}.txt"
    files.put_text(key, body)
    record = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=ctx.state,
        approver=payload.rewards_approver,
        action=action,
        draft=Draft(subject=subject, body_key=key, body_sha256=sha256_text(body)),
        task_token=ctx.task_token,
        amount_cents=payload.reward_cents,  # the tier's approvers only (examples/approvers.json)
    )
    email.send(
        approval_email(
            record,
            to=payload.rewards_approver,
            link=approvals.link(record),
            body=body,
            kind="approval_request",
        )
    )
    return ApprovalRequested(approval_id=record.approval_id, expires_at=record.expires_at)


@step_handler(RewardApprovalInput)
def handler(payload: RewardApprovalInput, ctx: StepContext) -> ApprovalRequested:
    return request_reward_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
