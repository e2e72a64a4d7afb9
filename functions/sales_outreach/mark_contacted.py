"""MarkContacted (reversible): CRM status → contacted; RevertContactStatus undoes it.

The status the lead had when the run started (``$.lead.status``) is the checkpoint the
compensation restores. A retried invocation that finds the status already "contacted" (because
the first attempt's write landed) reports the change instead of failing on the conditional write.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import Lead, StatusChange
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort, StatusConflict
from functions.shared.step_handler import StepContext, step_handler


class MarkInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead: Lead


def mark_contacted(payload: MarkInput, *, crm: CrmPort) -> StatusChange:
    lead = payload.lead
    try:
        crm.set_status(lead.contact_id, "contacted", expected=lead.status)
    except StatusConflict:
        current = crm.get_contact(lead.contact_id)
        if current is None or current.status != "contacted":
            raise
    return StatusChange(
        contact_id=lead.contact_id,
        previous_status=lead.status,
        status="contacted",
        changed=lead.status != "contacted",
    )


@step_handler(MarkInput)
def handler(payload: MarkInput, ctx: StepContext) -> StatusChange:
    return mark_contacted(payload, crm=get_crm())
