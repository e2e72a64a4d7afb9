"""SummarizeSweep (pure): the sweep's outcome, counted from the files the batches wrote.

Reads each batch's drafts file and, where SendBatch finished, its ``sent`` file (a batch whose send
failed after its retries has none: ``batches_not_sent``), and writes the report to
``<prefix>report.json``. The state gets counts, never the clients.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.reengagement_sweep.find_dormant_clients import batch_key
from functions.reengagement_sweep.models import ApprovedSet, BatchSent, Outcome, SweepFound
from functions.reengagement_sweep.request_digest_approval import read_drafts
from functions.shared.adapters import get_files
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class SummaryInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    found: SweepFound
    approved: ApprovedSet


def summarize_sweep(payload: SummaryInput, *, files: FileStore, ctx: StepContext) -> Outcome:
    found = payload.found
    drafts = read_drafts(files, found)
    results: list[BatchSent] = []
    not_sent = 0
    for batch in found.batches:
        key = batch_key(found.prefix, "sent", batch)
        if files.exists(key):
            results.append(BatchSent.model_validate(files.get_json(key)))
        else:
            not_sent += 1
    outcome = Outcome(
        status="sent",
        period=found.period,
        detail="",
        dormant=found.total,
        drafted=sum(1 for d in drafts if d.body is not None),
        draft_failed=sum(1 for d in drafts if d.body is None),
        approved=payload.approved.approved,
        dropped=payload.approved.dropped,
        sent=sum(r.sent for r in results),
        already_sent=sum(r.already_sent for r in results),
        send_failed=sum(r.failed for r in results),
        batches_not_sent=not_sent,
        left_out=found.left_out,
        report_key=f"{found.prefix}report.json",
    )
    detail = (
        f"{outcome.sent} re-engagement emails sent for {found.period} ({outcome.already_sent} already sent"
        f" earlier this period, {outcome.send_failed} refused by the mail system, {outcome.dropped} left out"
        f" by the approver, {outcome.draft_failed} not drafted)"
    )
    if not_sent:
        detail += (
            f"; {not_sent} batch(es) failed to send: rerun the period to retry them (nothing is sent twice)"
        )
    if found.left_out:
        detail += f"; {found.left_out} more dormant clients left for a later sweep"
    outcome = outcome.model_copy(update={"detail": detail})
    files.put_json(outcome.report_key or "", outcome.model_dump(mode="json"))
    return outcome


@step_handler(SummaryInput)
def handler(payload: SummaryInput, ctx: StepContext) -> Outcome:
    return summarize_sweep(payload, files=get_files(), ctx=ctx)
