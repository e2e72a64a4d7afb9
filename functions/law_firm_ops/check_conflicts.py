"""CheckConflicts (pure): the conflict-of-interest rule on CRM data; a conflict is a ``BusinessRuleError``.

The ASL catches it and asks the partner for a waiver; nothing has been created yet. The rule reads
the raw intake text as well as the model's parties, and a matter that should have another side but
has none extracted also goes to the partner: a missing reading fails closed (``conflicts.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.conflicts import describe, find_conflicts, partner_concern
from functions.law_firm_ops.models import ClientIdentity, ConflictCheck, Matter
from functions.shared.adapters import get_crm, get_files
from functions.shared.errors import BusinessRuleError
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class ConflictInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter: Matter
    matter_description: str


def check_conflicts(payload: ConflictInput, *, crm: CrmPort, files: FileStore) -> ConflictCheck:
    matter = payload.matter
    hits, checked = find_conflicts(
        identity=payload.identity,
        parties=matter.parties,
        crm=crm,
        files=files,
        description=payload.matter_description,
    )
    if hits:
        raise BusinessRuleError(f"conflict of interest: {describe(hits)}"[:1000])
    concern = partner_concern(
        matter_type=matter.matter_type, description=payload.matter_description, parties=matter.parties
    )
    if concern is not None:
        raise BusinessRuleError(f"possible conflict, the partner decides: {concern}"[:1000])
    return ConflictCheck(status="clear", checked_names=checked)


@step_handler(ConflictInput)
def handler(payload: ConflictInput, ctx: StepContext) -> ConflictCheck:
    return check_conflicts(payload, crm=get_crm(), files=get_files())
