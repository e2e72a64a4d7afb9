"""FinalizeEntries (pure): parse the table the attorney approved, strictly, into the entries to post.

The approved text is checked against the sha256 the approvals service recorded; an invalid edit is
an ``InvalidInputError`` naming every problem (nothing is posted from a table we had to guess about).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops import entries_table
from functions.law_firm_ops.models import (
    ApprovalDecision,
    ApprovedEntries,
    ApprovedEntry,
    ProposedTime,
    time_entry_id_for,
)
from functions.shared.adapters import get_files
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class FinalizeInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    proposal: ProposedTime
    entries_approval: ApprovalDecision


def finalize_entries(payload: FinalizeInput, *, files: FileStore, ctx: StepContext) -> ApprovedEntries:
    draft = payload.entries_approval.draft
    text = files.get_text(draft.body_key)
    if sha256_text(text) != draft.body_sha256:
        raise PermanentIntegrationError(f"time-entry table {draft.body_key} changed after it was approved")
    try:
        rows = entries_table.parse(text, payload.proposal.rows)
    except entries_table.TableError as exc:
        raise InvalidInputError(f"approved time-entry table is invalid: {exc}"[:1000]) from exc
    entries = [
        ApprovedEntry(
            entry_id=time_entry_id_for(row.source_id),
            source_id=row.source_id,
            date=row.date,
            minutes=row.minutes,
            description=row.description,
        )
        for row in rows
    ]
    return ApprovedEntries(
        count=len(entries),
        total_minutes=sum(e.minutes for e in entries),
        entries=entries,
        edited=payload.entries_approval.edited,
    )


@step_handler(FinalizeInput)
def handler(payload: FinalizeInput, ctx: StepContext) -> ApprovedEntries:
    return finalize_entries(payload, files=get_files(), ctx=ctx)
