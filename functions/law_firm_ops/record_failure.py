"""RecordFailure (irreversible, idempotent): the failure and its cause go on the client's CRM timeline.

Runs at the end of the compensation chain (retainer voided, matter archived, status reverted),
before the ``Fail`` state that keeps the original error and cause. It says whether the engagement
letter had already gone out, because that cannot be undone and needs a person to follow up.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.activity import record_outcome
from functions.law_firm_ops.models import ClientIdentity, Outcome, SentLetterRef, matter_id_for
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class FailureInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    error: CaughtError
    letter_sent: SentLetterRef | None = None
    matter_description: str


def record_failure(payload: FailureInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    detail = f"{payload.error.Error}: {payload.error.Cause or ''}"[:400]
    if payload.letter_sent is not None:
        detail += (
            f" (the engagement letter was already sent to {payload.letter_sent.to}: follow up in person)"
        )
    return record_outcome(
        ctx=ctx,
        crm=crm,
        client_id=payload.identity.client_id,
        kind="onboarding_failed",
        summary=detail,
        details={"error": payload.error.Error, "letter_sent": payload.letter_sent is not None},
        outcome=Outcome(
            status="failed",
            client_email=payload.identity.email,
            client_id=payload.identity.client_id,
            matter_id=matter_id_for(payload.identity.client_id, payload.matter_description),
            detail=detail,
        ),
    )


@step_handler(FailureInput)
def handler(payload: FailureInput, ctx: StepContext) -> Outcome:
    return record_failure(payload, crm=get_crm(), ctx=ctx)
