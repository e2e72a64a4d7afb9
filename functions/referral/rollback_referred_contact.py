"""RollbackReferredContact (compensation of CreateReferredContact).

The CRM port cannot delete a contact, and deleting would also erase the evidence that the referral
arrived. Marking it ``do_not_contact`` would be wrong too: that flag is sticky and records the
person's consent choice, which nobody made. So the compensation moves the status "new" →
"disqualified" (only if it is still "new": a person who already worked the lead wins) and writes a
``referral_rolled_back`` activity with the cause. MatchReferral recognises such a contact, so
submitting the referral again revives it instead of reporting a duplicate.

Only this run's contact is undone (``source`` is this run's, see CreateReferredContact): a run that
stopped because another run created the contact leaves that contact alone. Idempotent: a second
run finds it disqualified and only re-logs the (same-id) activity.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.referral.activity import log_activity_once
from functions.referral.create_referred_contact import made_by_this_run
from functions.referral.models import Match, RollbackResult
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort, StatusConflict
from functions.shared.step_handler import StepContext, step_handler


class RollbackInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    match: Match
    error: CaughtError | None = None


def rollback_referred_contact(payload: RollbackInput, *, crm: CrmPort, ctx: StepContext) -> RollbackResult:
    contact_id = payload.match.new_contact_id
    contact = crm.get_contact(contact_id)
    if contact is None:
        return RollbackResult(
            contact_id=contact_id, rolled_back=False, detail="the contact was never created"
        )
    if not made_by_this_run(crm, contact, ctx):
        return RollbackResult(
            contact_id=contact_id,
            rolled_back=False,
            detail=f"left alone: created by {contact.source or 'someone else'}, not by this run",
        )
    if contact.status != "disqualified":
        try:
            crm.set_status(contact_id, "disqualified", expected="new")
        except StatusConflict as conflict:
            return RollbackResult(
                contact_id=contact_id,
                rolled_back=False,
                detail=f"left alone: someone moved it to {conflict.actual!r} meanwhile",
            )
    cause = f"{payload.error.Error}: {payload.error.Cause or ''}" if payload.error else "run failed"
    log_activity_once(
        ctx=ctx,
        crm=crm,
        contact_id=contact_id,
        kind="referral_rolled_back",
        summary=f"Referral run failed before it completed; contact disqualified. {cause}",
        details={"error": payload.error.Error if payload.error else None},
    )
    return RollbackResult(contact_id=contact_id, rolled_back=True, detail="status new → disqualified")


@step_handler(RollbackInput)
def handler(payload: RollbackInput, ctx: StepContext) -> RollbackResult:
    return rollback_referred_contact(payload, crm=get_crm(), ctx=ctx)
