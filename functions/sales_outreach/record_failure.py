"""RecordFailure (irreversible, idempotent): the failure and its cause go on the CRM timeline.

Runs at the end of every compensation chain, before the ``Fail`` state that keeps the original
error and cause as the execution's result.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.activity import record_outcome
from functions.sales_outreach.models import Lead, Outcome
from functions.shared.adapters import get_crm
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class FailureInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead_id: str
    lead: Lead
    error: CaughtError


def record_failure(payload: FailureInput, *, crm: CrmPort, ctx: StepContext) -> Outcome:
    detail = payload.error.summary()
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.lead.contact_id,
        lead_id=payload.lead_id,
        kind="outreach_failed",
        summary=detail,
        details={"error": payload.error.Error},
        outcome=Outcome(status="failed", lead_id=payload.lead_id, activity_id="-", detail=detail),
    )


@step_handler(FailureInput)
def handler(payload: FailureInput, ctx: StepContext) -> Outcome:
    return record_failure(payload, crm=get_crm(), ctx=ctx)
