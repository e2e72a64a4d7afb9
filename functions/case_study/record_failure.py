"""RecordFailure (irreversible, idempotent): the failure, its cause and what was undone go on the
client's CRM timeline.

Runs at the end of every compensation chain, before the ``Fail`` state that keeps the original
error and cause as the execution's result. If the CRM is what failed, this may fail too: the ASL
then goes straight to the ``Fail`` state, still with the original error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.activity import Detail, record_outcome
from functions.case_study.models import Facts, Outcome, Unpublished
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class FailureInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str
    facts: Facts
    error: CaughtError
    unpublished: Unpublished | None = None
    unpublishError: CaughtError | None = None


def record_failure(payload: FailureInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    detail = f"{payload.error.Error}: {(payload.error.Cause or '')[:300]}"
    details: dict[str, Detail] = {"error": payload.error.Error}
    if payload.unpublished is not None:
        detail += f" | unpublish: {payload.unpublished.detail}"
        details |= {"unpublished_key": payload.unpublished.key, "unpublished": payload.unpublished.deleted}
    if payload.unpublishError is not None:
        detail += f" | unpublish FAILED ({payload.unpublishError.Error}): the case study may still be public"
        details |= {"unpublish_error": payload.unpublishError.Error}
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.facts.contact_id,
        deal_id=payload.deal_id,
        kind="case_study_failed",
        summary=detail[:500],
        details=details,
        outcome=Outcome(status="failed", deal_id=payload.deal_id, activity_id="-", detail=detail[:500]),
    )


@step_handler(FailureInput)
def handler(payload: FailureInput, ctx: StepContext) -> Outcome:
    return record_failure(payload, crm=get_crm(), ctx=ctx)
