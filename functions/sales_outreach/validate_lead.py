"""ValidateLead (pure): the lead must exist in the CRM and may be contacted.

Clients, active or dormant, are not leads: cold outreach would pitch them what they already buy,
and MarkContacted would overwrite "dormant", the status referral's re-engagement looks for.
"""

from __future__ import annotations

from functions.sales_outreach.models import Lead, OutreachRequest
from functions.shared.adapters import get_crm
from functions.shared.errors import BusinessRuleError, InvalidInputError
from functions.shared.ports.crm import CLIENT_STATUSES, CrmPort
from functions.shared.step_handler import StepContext, step_handler

NOT_CONTACTABLE = {"do_not_contact", *CLIENT_STATUSES}


def validate_lead(request: OutreachRequest, crm: CrmPort) -> Lead:
    contact = crm.get_contact(request.lead_id)
    if contact is None:
        raise InvalidInputError(f"lead {request.lead_id} not found in the CRM")
    if contact.do_not_contact or contact.status in NOT_CONTACTABLE:
        raise BusinessRuleError(f"lead {request.lead_id} may not be contacted (status {contact.status})")
    return Lead.model_validate(contact.model_dump(include=set(Lead.model_fields)))


@step_handler(OutreachRequest)
def handler(request: OutreachRequest, ctx: StepContext) -> Lead:
    return validate_lead(request, get_crm())
