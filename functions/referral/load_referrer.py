"""LoadReferrer (pure): the referring client must exist in the CRM; the state gets its profile."""

from __future__ import annotations

from functions.referral.models import Person, ReferralRequest
from functions.shared.adapters import get_crm
from functions.shared.errors import InvalidInputError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


def load_referrer(request: ReferralRequest, crm: CrmPort) -> Person:
    contact = crm.get_contact(request.referrer_contact_id)
    if contact is None:
        raise InvalidInputError(f"referrer {request.referrer_contact_id} not found in the CRM")
    return Person.model_validate(contact.model_dump(include=set(Person.model_fields)))


@step_handler(ReferralRequest)
def handler(request: ReferralRequest, ctx: StepContext) -> Person:
    return load_referrer(request, get_crm())
