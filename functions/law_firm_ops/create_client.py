"""CreateClient (reversible): the CRM contact becomes a client; RevertClientStatus undoes it.

A person the CRM did not know is first added as a prospect (status "new") under the derived id,
then moved to "client" with a conditional write. ``$.identity`` (the status before the run) is the
checkpoint the compensation restores. A retry that finds the first attempt's write already landed
reports the change instead of failing on the conditional write.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, ClientRecord
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import Contact, CrmPort, StatusConflict
from functions.shared.step_handler import StepContext, step_handler


class CreateClientInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity


def create_client(payload: CreateClientInput, *, crm: CrmPort) -> ClientRecord:
    identity = payload.identity
    if identity.previous_status == "client":  # an existing client opening another matter
        return ClientRecord(
            client_id=identity.client_id, previous_status="client", status="client", changed=False
        )
    if crm.get_contact(identity.client_id) is None:
        crm.put_contact(
            Contact(
                contact_id=identity.client_id,
                email=identity.email,
                name=identity.name,
                company=identity.company or identity.name,
                status="new",
            )
        )
    try:
        crm.set_status(identity.client_id, "client", expected=identity.previous_status or "new")
    except StatusConflict:
        current = crm.get_contact(identity.client_id)
        if current is None or current.status != "client":
            raise
    return ClientRecord(
        client_id=identity.client_id, previous_status=identity.previous_status, status="client", changed=True
    )


@step_handler(CreateClientInput)
def handler(payload: CreateClientInput, ctx: StepContext) -> ClientRecord:
    return create_client(payload, crm=get_crm())
