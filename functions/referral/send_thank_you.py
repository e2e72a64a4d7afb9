"""SendThankYou (irreversible, idempotent): a thank-you email to the referrer's CRM address.

The text is a fixed template filled from the CRM (no model, no amount: the reward may still need
approval). ``run_once`` keys the send on the referral (referrer, referred email) and pins recipient
and body hash, so a retry or a rerun after a successful send returns the first result.
The send is the last thing the function does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.models import Person, ReferredContact, SentEmailRef
from functions.shared.adapters import get_email
from functions.shared.business_keys import business_action
from functions.shared.config import settings
from functions.shared.idempotency import run_once
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import sha256_text
from functions.shared.step_handler import StepContext, step_handler


class ThankYouInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    referrer_contact_id: str
    referrer: Person
    referred: ReferredContact


def thank_you_text(referrer: Person, referred: ReferredContact) -> tuple[str, str]:
    subject = f"Thank you for referring {referred.name}"
    body = (
        f"Hi {referrer.first_name},\n\n"
        f"Thank you for introducing us to {referred.name} at {referred.company}. Referrals from "
        "clients are the best compliment we get, and we will take good care of them.\n\n"
        "We will let you know about your referral reward separately.\n\n"
        "With thanks,\nThe Stepwise team\n"
    )
    return subject[:200], body


def send_thank_you(payload: ThankYouInput, *, email: EmailPort, ctx: StepContext) -> SentEmailRef:
    referrer = payload.referrer
    subject, body = thank_you_text(referrer, payload.referred)
    body_sha = sha256_text(body)

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=referrer.email,
                subject=subject,
                body_text=body,
                reply_to=settings().sender_email,
                tags={"kind": "referral_thank_you", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentEmailRef(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            body_sha256=body_sha,
            sent_at=sent.sent_at,
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=business_action("referral_thank_you", payload.referrer_contact_id, payload.referred.email),
        pinned={"to": referrer.email, "body_sha256": body_sha},
        result_model=SentEmailRef,
        effect=send,
    )


@step_handler(ThankYouInput)
def handler(payload: ThankYouInput, ctx: StepContext) -> SentEmailRef:
    return send_thank_you(payload, email=get_email(), ctx=ctx)
