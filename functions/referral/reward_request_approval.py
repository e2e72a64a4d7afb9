"""RewardRequestApproval (callback task): a reward waits for the rewards approver.

Asked for a reward above the threshold, and for any reward after an unsure entity match
(``Match.needs_review``): then the body says why, and which CRM contact the referred person may be.

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
    referred: ReferredContact
    reward_cents: int
    rewards_approver: EmailAddress
    note: str | None = None
    match: Match | None = None


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
    referrer, referred = payload.referrer, payload.referred
    amount = dollars(payload.reward_cents)
    subject = f"Referral reward: {amount} account credit for {referrer.name}"[:120]
    body = (
        f"Grant a referral reward of {amount} as an account credit to {referrer.name} "
        f"({referrer.company}, client {referrer.contact_id}).\n\n"
        f"Referred: {referred.name} <{referred.email}> at {referred.company}"
        f" (new contact {referred.contact_id}).\n"
        + (f"Referrer's note: {payload.note}\n" if payload.note else "")
        + (
            f"\nCheck first: the referred person may already be in the CRM ({payload.match.review_reason}). "
            "Reject if this is someone the firm already knows.\n"
            if payload.match is not None and payload.match.needs_review
            else ""
        )
        + "\nThe amount is fixed by the referral request: editing this text does not change it.\n"
        "Rejecting grants no credit; the referral itself stays recorded.\n"
    )
    key = f"approvals/{ctx.execution}/{ctx.state}.txt"
    files.put_text(key, body)
    action = f"Grant a {amount} referral credit to {referrer.name} ({referrer.contact_id})"
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
