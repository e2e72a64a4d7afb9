"""RecordOnboarded (irreversible, idempotent): onboarding and recovered hours go on the client's timeline.

Reached after the entries were posted, when nothing was unbilled, or when the attorney rejected
(or let expire) the proposed entries: the client is onboarded either way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.activity import record_outcome
from functions.law_firm_ops.models import (
    MAX_PROPOSED_ENTRIES,
    BillingSetup,
    ClientIdentity,
    MatterRecord,
    Outcome,
    PostedEntries,
    SentLetterRef,
    Unbilled,
)
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class OnboardedInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    letter_sent: SentLetterRef
    billing: BillingSetup
    posted: PostedEntries | None = None
    unbilled: Unbilled | None = None
    approvalError: CaughtError | None = None


def recovery_summary(payload: OnboardedInput) -> str:
    """What became of the unbilled time, in words that never contradict the counts.

    "No unbilled time found" only when GatherUnbilled found none at all; items the model was shown
    but proposed nothing for, and items left out of the proposal, are said to exist.
    """
    posted, unbilled = payload.posted, payload.unbilled
    shown = unbilled.count if unbilled else 0
    left_out = unbilled.left_out if unbilled else 0
    if posted is not None:
        recovery = f"{len(posted.entry_ids)} recovered time entries posted ({posted.total_minutes} min)"
    elif payload.approvalError is not None:
        recovery = f"proposed time entries not approved ({payload.approvalError.Error}); nothing posted"
    elif shown:
        recovery = f"{shown} unbilled item(s) reviewed, none proposed as billable; nothing posted"
    elif left_out:
        recovery = "no unbilled item was proposed this run; nothing posted"
    else:
        recovery = "no unbilled attorney time found"
    if left_out:
        recovery += (
            f"; {left_out} more unbilled item(s) were not proposed (at most {MAX_PROPOSED_ENTRIES} a run): "
            "review them by hand"
        )
    return recovery


def record_onboarded(payload: OnboardedInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    posted = payload.posted
    left_out = payload.unbilled.left_out if payload.unbilled else 0
    recovery = recovery_summary(payload)
    detail = (
        f"engagement letter sent to {payload.letter_sent.to}; retainer invoice {payload.billing.invoice_id} "
        f"{payload.billing.status}; {recovery}"
    )
    return record_outcome(
        ctx=ctx,
        crm=crm,
        client_id=payload.identity.client_id,
        kind="client_onboarded",
        summary=detail,
        details={
            "matter_id": payload.matter_record.matter_id,
            "invoice_id": payload.billing.invoice_id,
            "letter_message_id": payload.letter_sent.message_id,
            "recovered_entries": len(posted.entry_ids) if posted else 0,
            "unbilled_left_out": left_out,
        },
        outcome=Outcome(
            status="onboarded",
            client_email=payload.identity.email,
            client_id=payload.identity.client_id,
            matter_id=payload.matter_record.matter_id,
            detail=detail[:1000],
            invoice_id=payload.billing.invoice_id,
            letter_message_id=payload.letter_sent.message_id,
            recovered_entries=len(posted.entry_ids) if posted else 0,
            recovered_minutes=posted.total_minutes if posted else 0,
        ),
    )


@step_handler(OnboardedInput)
def handler(payload: OnboardedInput, ctx: StepContext) -> Outcome:
    return record_onboarded(payload, crm=get_crm(), ctx=ctx)
