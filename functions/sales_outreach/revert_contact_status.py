"""RevertContactStatus (compensation of MarkContacted): restore the status the run started from.

Idempotent by construction: it only moves the status from "contacted" back to the saved one; if
the status is already restored, or a person changed it meanwhile, it leaves the CRM alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.sales_outreach.models import Lead, StatusChange
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort, StatusConflict
from functions.shared.step_handler import StepContext, step_handler


class RevertInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lead: Lead
    contact_status: StatusChange


def revert_contact_status(payload: RevertInput, *, crm: CrmPort) -> StatusChange:
    change = payload.contact_status
    if not change.changed or change.status != "contacted":
        # Nothing this run did is left to undo (already reverted, or it never changed the status).
        return change.model_copy(update={"changed": False})
    restored = True
    try:
        crm.set_status(change.contact_id, change.previous_status, expected="contacted")
    except StatusConflict:
        current = crm.get_contact(change.contact_id)
        restored = current is not None and current.status == change.previous_status
    return StatusChange(
        contact_id=change.contact_id,
        previous_status="contacted",
        status=change.previous_status,
        changed=restored,
    )


@step_handler(RevertInput)
def handler(payload: RevertInput, ctx: StepContext) -> StatusChange:
    return revert_contact_status(payload, crm=get_crm())
