"""ProposeEntries (pure + LLM draft): time entries for the unbilled items, as a table for the attorney.

The answer is validated against the items the prompt listed (a model bound to this run's items):
every entry must name one given ``source_id`` once, with minutes within that item's bound. An
answer that breaks these rules is re-prompted by the LLM client, then fails as ``LLMFormatError``.
"""

from __future__ import annotations

import json
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from functions.law_firm_ops import entries_table
from functions.law_firm_ops.models import (
    ClientIdentity,
    DraftRef,
    Matter,
    MatterRecord,
    ProposalRow,
    ProposedTime,
    TimeProposal,
    Unbilled,
)
from functions.law_firm_ops.prompts import PLAYBOOK
from functions.shared.adapters import get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class ProposeInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter: Matter
    matter_record: MatterRecord
    attorney_email: str
    unbilled: Unbilled


def bound_to(caps: dict[str, int]) -> type[TimeProposal]:
    """``TimeProposal`` that only accepts the given items, each once, within its minutes bound."""

    class RecoveredTime(TimeProposal):
        @model_validator(mode="after")
        def _only_given_items(self) -> Self:
            seen: set[str] = set()
            for entry in self.entries:
                if entry.source_id not in caps:
                    raise ValueError(f"source_id {entry.source_id!r} is not one of the items {sorted(caps)}")
                if entry.source_id in seen:
                    raise ValueError(f"source_id {entry.source_id!r} has more than one entry")
                if entry.minutes > caps[entry.source_id]:
                    raise ValueError(
                        f"{entry.source_id}: {entry.minutes} minutes exceeds "
                        f"max_minutes {caps[entry.source_id]}"
                    )
                seen.add(entry.source_id)
            return self

    return RecoveredTime


def propose_entries(
    payload: ProposeInput, *, files: FileStore, llm: LLMClient, ctx: StepContext
) -> ProposedTime:
    items = {item.source_id: item for item in payload.unbilled.items}
    facts = {
        "client": {"name": payload.identity.name, "company": payload.identity.company},
        "matter": {"type": payload.matter.matter_type, "summary": payload.matter.summary},
        "items": [item.model_dump(mode="json") for item in payload.unbilled.items],
        "item_count": len(items),
    }
    result = llm.structured(
        operation="draft",
        playbook=PLAYBOOK,
        prompt=f"Propose the missing time entries.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
        output_model=bound_to({sid: item.max_minutes for sid, item in items.items()}),
        tool_name="law_firm_recover_time",
        context=LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt),
    )
    order = {sid: n for n, sid in enumerate(items)}
    rows = [
        ProposalRow(
            source_id=entry.source_id,
            date=items[entry.source_id].date,
            minutes=entry.minutes,
            max_minutes=items[entry.source_id].max_minutes,
            description=entry.description.replace("|", "/"),
        )
        for entry in sorted(result.value.entries, key=lambda e: order[e.source_id])
    ]
    table = entries_table.render(
        rows,
        client=payload.identity.name,
        matter_id=payload.matter_record.matter_id,
        attorney=payload.attorney_email,
    )
    key = f"drafts/{ctx.execution}/{ctx.state}-{ctx.attempt}.txt"
    files.put_text(key, table)
    return ProposedTime(
        count=len(rows),
        total_minutes=sum(r.minutes for r in rows),
        rows=rows,
        table=DraftRef(
            subject=f"Recovered time for {payload.identity.name}: {len(rows)} entries"[:120],
            body_key=key,
            body_sha256=sha256_text(table),
            llm=result.summary(),
        ),
    )


@step_handler(ProposeInput)
def handler(payload: ProposeInput, ctx: StepContext) -> ProposedTime:
    return propose_entries(payload, files=get_files(), llm=get_llm_client(), ctx=ctx)
