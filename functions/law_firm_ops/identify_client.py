"""IdentifyClient (pure): who the prospective client is in the CRM, before anything changes.

A person the CRM already knows (by email) keeps their contact id; anybody else gets the id derived
from their email (``derived_client_id``), which the firm's scheduling form also uses for
consultations. ``$.identity`` is the checkpoint every compensation restores from.
"""

from __future__ import annotations

from functions.law_firm_ops.models import ClientIdentity, IntakeRequest, derived_client_id
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


def identify_client(request: IntakeRequest, crm: CrmPort) -> ClientIdentity:
    contact = crm.find_contact_by_email(request.client_email)
    if contact is None:
        return ClientIdentity(
            client_id=derived_client_id(request.client_email),
            existed=False,
            previous_status=None,
            name=request.client_name,
            email=request.client_email,
            company=request.client_company,
        )
    return ClientIdentity(
        client_id=contact.contact_id,
        existed=True,
        previous_status=contact.status,
        name=request.client_name,
        email=request.client_email,
        company=request.client_company or contact.company,
    )


@step_handler(IntakeRequest)
def handler(request: IntakeRequest, ctx: StepContext) -> ClientIdentity:
    return identify_client(request, get_crm())
