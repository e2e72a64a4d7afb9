"""FindDormantClients (pure): every dormant client of the CRM, written as batch files.

Who is dormant is ``functions.shared.dormancy`` (the rule the referral flow uses too). The CRM is
read once (``CrmPort.list_client_touches``: one scan of profiles and activities, no query per
client). The longest silent ``max_clients`` are taken and split into files of ``BATCH_SIZE``
(``<prefix>clients/<n>.json``); the state gets the prefix, the batch numbers and the counts, never
a list of clients. Rerunning writes the same files again (the names hold the execution).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ConfigDict

from functions.reengagement_sweep.models import BATCH_SIZE, SweepClient, SweepFound, SweepRequest
from functions.shared.adapters import get_crm, get_files
from functions.shared.dormancy import dormancy, is_candidate
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class FindInput(SweepRequest):
    model_config = ConfigDict(extra="ignore", frozen=True)


def batch_key(prefix: str, kind: str, batch: int) -> str:
    """``<prefix><kind>/<batch, 5 digits>.json``: clients, drafts and sent files of one batch."""
    return f"{prefix}{kind}/{batch:05d}.json"


def find_dormant_clients(
    payload: FindInput, *, crm: CrmPort, files: FileStore, ctx: StepContext, now: datetime | None = None
) -> SweepFound:
    moment = now or datetime.now(UTC)
    touches = [t for t in crm.list_client_touches() if is_candidate(t.contact)]
    dormant = [
        found
        for t in touches
        if (
            found := dormancy(
                t.contact, t.last_activity_at, now=moment, after_days=payload.dormant_after_days
            )
        )
    ]
    dormant.sort(key=lambda d: d.order)
    taken = dormant[: payload.max_clients]
    prefix = f"sweeps/{payload.period}/{ctx.execution}/"
    batches = []
    for number, start in enumerate(range(0, len(taken), BATCH_SIZE)):
        clients = [
            SweepClient(
                contact_id=d.contact.contact_id,
                name=d.contact.name,
                email=d.contact.email,
                company=d.contact.company,
                title=d.contact.title,
                days_inactive=d.days_inactive,
                reason=d.reason,
            ).model_dump(mode="json")
            for d in taken[start : start + BATCH_SIZE]
        ]
        files.put_json(batch_key(prefix, "clients", number), clients)
        batches.append(number)
    return SweepFound(
        period=payload.period,
        prefix=prefix,
        total=len(taken),
        left_out=len(dormant) - len(taken),
        considered=len(touches),
        batches=batches,
    )


@step_handler(FindInput)
def handler(payload: FindInput, ctx: StepContext) -> SweepFound:
    return find_dormant_clients(payload, crm=get_crm(), files=get_files(), ctx=ctx)
