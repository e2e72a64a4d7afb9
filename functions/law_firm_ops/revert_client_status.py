"""RevertClientStatus (compensation of CreateClient): restore the status the run started from.

Works from the checkpoint ``$.identity`` alone, so it is safe to run whether CreateClient finished,
failed after its write, or never ran. It only moves a status that is still "client"; an existing
client (status "client" before the run) is left alone, and so is a status a person changed since.
A contact this run added stays in the CRM as a prospect ("new"): the CRM has no delete, and the
failure activity on it explains what happened.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, ClientRecord
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort, StatusConflict
from functions.shared.step_handler import StepContext, step_handler


class RevertInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity


def revert_client_status(payload: RevertInput, *, crm: CrmPort) -> ClientRecord:
    identity = payload.identity
    target = identity.previous_status or "new"
    current = crm.get_contact(identity.client_id)
    if target == "client" or current is None or current.status != "client":
        return ClientRecord(
            client_id=identity.client_id,
            previous_status=identity.previous_status,
            status=current.status if current else target,
            changed=False,
        )
    restored = True
    try:
        crm.set_status(identity.client_id, target, expected="client")
    except StatusConflict:
        now = crm.get_contact(identity.client_id)
        restored = now is not None and now.status == target
    return ClientRecord(
        client_id=identity.client_id, previous_status="client", status=target, changed=restored
    )


@step_handler(RevertInput)
def handler(payload: RevertInput, ctx: StepContext) -> ClientRecord:
    return revert_client_status(payload, crm=get_crm())
