"""SummarizeDay (pure): the day's counts, read from the stored outcome files; the run's output.

Reads what the batch steps stored, never what the Maps returned (a Distributed Map's results go
to S3 through its ResultWriter, and the state keeps only that reference): the scored batches (model
calls, cached readings, points-only fallbacks), each batch's confirmation outcomes, the digest's
settlement and each applied batch. Writes every appointment's outcome, in the order the run handled
them (confirmations and already confirmed by batch, then the escalations), to
``<prefix>/outcomes.json``; the output holds the counts and that key.

A batch whose outcome file is missing means its Map child failed after its retries: on AWS the
Map itself fails first (no failure is tolerated), so reaching here without the file is an error
the run must not summarize away.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict

from functions.no_show.models import (
    AppointmentOutcome,
    DaySummary,
    DigestRef,
    RunFiles,
    ScoredBatch,
    SettledDigest,
)
from functions.shared.adapters import get_files
from functions.shared.errors import PermanentIntegrationError
from functions.shared.ports.files import FileStore, dumps_json, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class SummaryInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: RunFiles
    digest: DigestRef | None = None
    settled: SettledDigest | None = None


#: Concurrent reads of the stored batch files.
READ_THREADS = 16


def _outcomes(files: FileStore, key: str, what: str) -> list[AppointmentOutcome]:
    if not files.exists(key):
        raise PermanentIntegrationError(f"{what}: no outcome file {key} (its Map child failed)")
    return [AppointmentOutcome.model_validate(o) for o in files.get_json(key)]


def summarize_day(payload: SummaryInput, *, files: FileStore) -> DaySummary:
    run = payload.signals
    settled = payload.settled
    batches = range(1, run.batches + 1)
    applied = range(1, (settled.batches if settled is not None else 0) + 1)
    # A few hundred small objects at 10,000 appointments: read on a bounded pool, kept in order.
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        scored_files = pool.map(lambda i: files.get_json(run.key("scored", i)), batches)
        confirmed = pool.map(
            lambda i: _outcomes(files, run.key("confirmed", i), f"confirmation batch {i}"), batches
        )
        actions = pool.map(
            lambda i: _outcomes(files, run.key("applied", i), f"approved actions batch {i}"), applied
        )
        scored = [ScoredBatch.model_validate(item) for item in scored_files]
        outcomes = [outcome for batch in confirmed for outcome in batch]
        outcomes += [outcome for batch in actions for outcome in batch]
    if settled is not None:
        outcomes += _outcomes(files, settled.outcomes_key, "digest")
    text = dumps_json(outcomes)
    key = run.key("outcomes")
    files.put_text(key, text)

    def count(*statuses: str) -> int:
        return sum(1 for outcome in outcomes if outcome.status in statuses)

    lines = [line for batch in scored for line in batch.lines]
    return DaySummary(
        day=run.day,
        owner=run.owner,
        appointments=len(lines),
        confirmation_requested=count("confirmation_requested"),
        already_confirmed=count("already_confirmed"),
        escalated=payload.digest.items if payload.digest is not None else 0,
        actions_applied=count("action_applied"),
        dropped=count("action_dropped"),
        rejected=count("escalation_rejected"),
        expired=count("escalation_expired"),
        failed=count("failed"),
        skipped=run.skipped,
        model_calls=sum(batch.model_calls for batch in scored),
        cached_scores=sum(1 for line in lines if line.cached),
        points_only=sum(1 for line in lines if line.fallback is not None),
        outcomes_key=key,
        outcomes_sha256=sha256_text(text),
    )


@step_handler(SummaryInput)
def handler(payload: SummaryInput, ctx: StepContext) -> DaySummary:
    return summarize_day(payload, files=get_files())
