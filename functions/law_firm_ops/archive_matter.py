"""ArchiveMatter (compensation of OpenMatter): the matter's deal moves to stage "archived" and the
parties OpenMatter recorded as adverse to the client are removed.

Idempotent and checkpoint-based: the matter id is the client + the matter description, and only a
deal this execution opened (``metrics.opened_by``; a redrive keeps the execution name) is archived.
If the deal does not exist (OpenMatter never wrote it), is already archived, or belongs to an
earlier run that onboarded the same matter, nothing changes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ARCHIVED, OPENED_BY, ClientIdentity, matter_id_for
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler


class ArchiveInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_description: str


class MatterArchived(BaseModel):
    matter_id: str
    archived: bool  # this invocation (or an earlier one) moved it; False: there was no matter of this run
    stage: str | None


def archive_matter(payload: ArchiveInput, *, crm: CrmPort, ctx: StepContext) -> MatterArchived:
    client_id = payload.identity.client_id
    matter_id = matter_id_for(client_id, payload.matter_description)
    deal = next((d for d in crm.list_deals(client_id) if d.deal_id == matter_id), None)
    if deal is not None and deal.metrics.get(OPENED_BY) != ctx.execution:
        return MatterArchived(matter_id=matter_id, archived=False, stage=deal.stage)  # another run's matter
    crm.unrelate_parties(client_id, matter_id)  # the matter is not the firm's after all
    if deal is None:
        return MatterArchived(matter_id=matter_id, archived=False, stage=None)
    if deal.stage != ARCHIVED:
        crm.put_deal(deal.model_copy(update={"stage": ARCHIVED, "outcome": "onboarding did not complete"}))
    return MatterArchived(matter_id=matter_id, archived=True, stage=ARCHIVED)


@step_handler(ArchiveInput)
def handler(payload: ArchiveInput, ctx: StepContext) -> MatterArchived:
    return archive_matter(payload, crm=get_crm(), ctx=ctx)
