"""ArchiveMatter (compensation of OpenMatter): the matter's deal moves to stage "archived" and the
parties OpenMatter recorded as adverse to the client are removed.

Idempotent and checkpoint-based: the matter id is derived from the execution; if the deal does not
exist (OpenMatter never wrote it) or is already archived, nothing changes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, matter_id_for
from functions.shared.adapters import get_crm
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

ARCHIVED = "archived"


class ArchiveInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity


class MatterArchived(BaseModel):
    matter_id: str
    archived: bool  # this invocation (or an earlier one) moved it; False: there was no matter
    stage: str | None


def archive_matter(payload: ArchiveInput, *, crm: CrmPort, ctx: StepContext) -> MatterArchived:
    matter_id = matter_id_for(ctx.execution)
    deal = next((d for d in crm.list_deals(payload.identity.client_id) if d.deal_id == matter_id), None)
    crm.unrelate_parties(payload.identity.client_id, matter_id)  # the matter is not the firm's after all
    if deal is None:
        return MatterArchived(matter_id=matter_id, archived=False, stage=None)
    if deal.stage != ARCHIVED:
        crm.put_deal(deal.model_copy(update={"stage": ARCHIVED, "outcome": "onboarding did not complete"}))
    return MatterArchived(matter_id=matter_id, archived=True, stage=ARCHIVED)


@step_handler(ArchiveInput)
def handler(payload: ArchiveInput, ctx: StepContext) -> MatterArchived:
    return archive_matter(payload, crm=get_crm(), ctx=ctx)
