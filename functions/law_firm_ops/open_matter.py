"""OpenMatter (reversible): a CRM deal represents the matter; ArchiveMatter undoes it.

The matter id is the business identity of the matter (client + description, ``models``), so a
retry or a redrive writes the same deal again (``put_deal`` replaces) and the compensation finds it
without this step's output. A fresh run of a matter that is already open (an earlier run onboarded
it) leaves that deal as it is: ``metrics.opened_by`` keeps naming the run that opened it, so this
run's compensation will not archive it. An archived matter (an earlier run failed) is reopened.
Each party on the other side is recorded as ``adverse`` to the client (``relate_party``, ref =
the matter id): the conflict check of a later intake finds the firm acting against that party when
the party itself asks to be represented. ArchiveMatter removes both.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import (
    ADVERSE,
    ADVERSE_ROLES,
    ARCHIVED,
    OPENED_BY,
    ClientIdentity,
    Matter,
    MatterRecord,
    matter_id_for,
)
from functions.shared.adapters import get_crm
from functions.shared.contact_keys import company_key
from functions.shared.ports.crm import CrmPort, Deal, RelatedParty
from functions.shared.step_handler import StepContext, step_handler


class OpenMatterInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter: Matter
    attorney_email: str
    partner_email: str
    retainer_cents: int
    matter_description: str


def matter_title(matter: Matter) -> str:
    return f"{matter.matter_type.replace('_', ' ').capitalize()} matter: {matter.summary}"[:200]


def open_matter(payload: OpenMatterInput, *, crm: CrmPort, ctx: StepContext) -> MatterRecord:
    client_id = payload.identity.client_id
    matter_id = matter_id_for(client_id, payload.matter_description)
    existing = next((d for d in crm.list_deals(client_id) if d.deal_id == matter_id), None)
    if (
        existing is not None
        and existing.stage != ARCHIVED
        and existing.metrics.get(OPENED_BY) != ctx.execution
    ):
        return MatterRecord(
            matter_id=matter_id, client_id=client_id, stage=existing.stage, title=existing.title
        )
    title = matter_title(payload.matter)
    crm.put_deal(
        Deal(
            deal_id=matter_id,
            contact_id=payload.identity.client_id,
            title=title,
            stage="open",
            amount_cents=payload.retainer_cents,
            metrics={
                "matter_type": payload.matter.matter_type,
                "attorney": payload.attorney_email,
                "partner": payload.partner_email,
                OPENED_BY: ctx.execution,
            },
        )
    )
    for party in payload.matter.parties:
        # A name that is only legal words ("The Company") matches nothing later, so is not recorded.
        if party.role in ADVERSE_ROLES and company_key(party.name):
            crm.relate_party(
                RelatedParty(
                    contact_id=payload.identity.client_id, party=party.name, relation=ADVERSE, ref=matter_id
                )
            )
    return MatterRecord(matter_id=matter_id, client_id=payload.identity.client_id, stage="open", title=title)


@step_handler(OpenMatterInput)
def handler(payload: OpenMatterInput, ctx: StepContext) -> MatterRecord:
    return open_matter(payload, crm=get_crm(), ctx=ctx)
