"""PostTimeEntries (irreversible, idempotent per entry): the approved entries go to billing.

Each entry is posted through ``run_once`` keyed on the attorney time it bills (its source) with
its client, minutes and source pinned, so a rerun bills nothing twice, and ``post_time_entry``
is itself idempotent on the entry id: a retry after a partial failure posts only what is missing,
never twice. The rate is read from billing (the system of record), the attorney and dates from
the approved entries.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ApprovedEntries, ClientIdentity, MatterRecord, PostedEntries
from functions.shared.adapters import get_billing
from functions.shared.business_keys import business_action
from functions.shared.errors import PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.billing import BillingPort, TimeEntry
from functions.shared.step_handler import StepContext, step_handler


class PostInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    attorney_email: str
    entries: ApprovedEntries


class PostedEntry(BaseModel):
    entry_id: str
    minutes: int


def post_time_entries(payload: PostInput, *, billing: BillingPort, ctx: StepContext) -> PostedEntries:
    client_id, matter_id = payload.identity.client_id, payload.matter_record.matter_id
    rate = billing.rate_for(client_id, matter_id)
    if rate is None:
        raise PermanentIntegrationError(f"billing has no rate for {client_id}/{matter_id}")
    posted: list[str] = []
    for approved in payload.entries.entries:
        entry = TimeEntry(
            entry_id=approved.entry_id,
            client_id=client_id,
            matter_id=matter_id,
            attorney=payload.attorney_email,
            date=approved.date,
            minutes=approved.minutes,
            description=approved.description,
            rate_cents=rate,
            status="posted",
            source=approved.source_id,
        )

        def post(entry: TimeEntry = entry) -> PostedEntry:
            billing.post_time_entry(entry)
            return PostedEntry(entry_id=entry.entry_id, minutes=entry.minutes)

        result = run_once(
            workflow=ctx.workflow,
            step=ctx.step,
            # The attorney time it bills (its source), not this run's entry id: a rerun bills it once.
            key=business_action("time_entry", approved.source_id),
            pinned={"client_id": client_id, "minutes": approved.minutes, "source": approved.source_id},
            result_model=PostedEntry,
            effect=post,
        )
        posted.append(result.entry_id)
    return PostedEntries(entry_ids=posted, total_minutes=payload.entries.total_minutes)


@step_handler(PostInput)
def handler(payload: PostInput, ctx: StepContext) -> PostedEntries:
    return post_time_entries(payload, billing=get_billing(), ctx=ctx)
