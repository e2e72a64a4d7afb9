"""ScoreBatch (pure + LLM classify): one batch file of appointments, scored; a Distributed Map child.

For each appointment: the deterministic probability from ``scoring`` (documented points on the
logistic scale), then, when the booking has notes, one LLM call that reads them and answers a
validated ``NotesReading`` (adjustment in [-0.2, 0.2], an action from a fixed list, a reason).
Code combines the two and picks the route; the model never chooses who is contacted or escalated.

At scale:
- The batch's model calls run on a bounded thread pool (``LLM_THREADS``); with the ScoreBatches
  Map's ``MaxConcurrency`` that bounds the calls in flight for the whole day (README: no_show).
- Every notes reading is cached in file storage, keyed by day + event + the notes' sha256
  (``<no_show/owner/day>/scores/...``): a retried batch, or a rerun of the same day, pays nothing
  for a reading it already has; changed notes are a new key.
- A model failure on one appointment (refusal, invalid output after the re-prompts, budget, an
  outage) never fails the day: that appointment keeps its points-only score (adjustment 0, action
  "call") and the line records why (``fallback``). Only rate limits and overload are raised, once
  the batch's other readings are cached, so the ASL retries the batch with backoff; on the batch's
  last allowed attempt they fall back too.

The scored batch goes to ``<prefix>/scored/0001.json``; the step returns counts only.
"""

from __future__ import annotations

import contextvars
import json
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from functions.no_show import scoring
from functions.no_show.models import (
    AppointmentSignals,
    BatchCounts,
    BatchInput,
    NotesReading,
    ScoredBatch,
    ScoreLine,
    SignalsBatch,
)
from functions.no_show.prompts import PLAYBOOK
from functions.shared.adapters import get_calendar, get_files
from functions.shared.errors import LLMOverloadedError, LLMRateLimitError, PermanentIntegrationError
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

MAX_NOTES_CHARS = 2000
#: Model calls in flight per batch (times the ScoreBatches Map's MaxConcurrency = the day's bound).
LLM_THREADS = 8
#: Rate limits and overload are raised (the ASL retries the batch) on attempts before this one;
#: from this attempt on they fall back to the points-only score like any other model failure.
LAST_RAISING_ATTEMPT = 2
TRANSIENT_LLM_ERRORS = (LLMRateLimitError, LLMOverloadedError)
NO_NOTES = NotesReading(
    adjustment=0.0,
    recommended_action="call",
    reason="No notes on the booking: the score is the model's alone.",
)
POINTS_ONLY = NotesReading(
    adjustment=0.0,
    recommended_action="call",
    reason="The notes could not be read by the model: the score is the points model's alone.",
)


def cache_key(day: str, owner: str, event_id: str, notes: str) -> str:
    """The score cache's key: day + event + the notes' hash (new notes, new reading)."""
    return f"no_show/{owner.lower()}/{day}/scores/{event_id}/{sha256_text(notes)[:32]}.json"


class Reading:
    """One appointment's notes reading: from the cache, the model, or the points-only fallback."""

    def __init__(
        self,
        reading: NotesReading,
        *,
        called: bool = False,
        cached: bool = False,
        fallback: str | None = None,
    ) -> None:
        self.reading, self.called, self.cached, self.fallback = reading, called, cached, fallback
        self.transient: Exception | None = None


def read_notes(
    appointment: AppointmentSignals,
    base: float,
    payload: BatchInput,
    *,
    calendar: CalendarPort,
    files: FileStore,
    llm: LLMClient,
    ctx: StepContext,
) -> Reading:
    """The reading of the booking notes (cached per notes), or a neutral one when there are none."""
    event = calendar.get_event(appointment.event_id) if appointment.has_notes else None
    notes = (event.notes or "").strip()[:MAX_NOTES_CHARS] if event is not None else ""
    if not notes:
        return Reading(NO_NOTES)
    key = cache_key(payload.run.day, payload.run.owner, appointment.event_id, notes)
    if files.exists(key):
        try:
            return Reading(NotesReading.model_validate(files.get_json(key)), cached=True)
        except (ValidationError, PermanentIntegrationError):
            pass  # an unreadable cache entry is read again from the model
    facts = {
        "appointment": appointment.model_dump(mode="json", exclude={"has_notes"}),
        "base_probability": base,
        "notes": notes,
    }
    try:
        result = llm.structured(
            operation="classify",
            playbook=PLAYBOOK,
            prompt=f"Read this appointment's notes.\n<input>{json.dumps(facts, sort_keys=True)}</input>",
            output_model=NotesReading,
            tool_name="no_show_read_notes",
            context=LLMCallContext(
                trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt, item=appointment.event_id
            ),
        )
    except Exception as exc:
        fallback = Reading(POINTS_ONLY, called=True, fallback=f"{type(exc).__name__}: {exc}"[:300])
        if isinstance(exc, TRANSIENT_LLM_ERRORS):
            fallback.transient = exc
        return fallback
    files.put_json(key, result.value)
    return Reading(result.value, called=True)


def score_batch(
    payload: BatchInput, *, calendar: CalendarPort, files: FileStore, llm: LLMClient, ctx: StepContext
) -> BatchCounts:
    batch = SignalsBatch.model_validate(files.get_json(payload.batch.key))
    bases = [scoring.base_probability(a) for a in batch.appointments]

    def read(appointment: AppointmentSignals, base: float) -> Reading:
        return read_notes(appointment, base, payload, calendar=calendar, files=files, llm=llm, ctx=ctx)

    # Each call runs in a copy of this thread's context: the LLM client charges the run ledger of
    # the step found there (``current_step``), and a thread pool does not inherit context variables.
    with ThreadPoolExecutor(max_workers=LLM_THREADS) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, read, appointment, base)
            for appointment, base in zip(batch.appointments, bases, strict=True)
        ]
        readings = [future.result() for future in futures]
    transient = next((r.transient for r in readings if r.transient is not None), None)
    if transient is not None and ctx.attempt < LAST_RAISING_ATTEMPT:
        raise transient  # the readings that worked are cached: the retry pays only for the rest
    lines = [
        line_for(appointment, base, reading, payload.run.risk_threshold)
        for appointment, base, reading in zip(batch.appointments, bases, readings, strict=True)
    ]
    key = payload.run.key("scored", batch.index)
    calls = sum(1 for r in readings if r.called)
    files.put_json(
        key,
        ScoredBatch(
            index=batch.index, risk_threshold=payload.run.risk_threshold, model_calls=calls, lines=lines
        ),
    )
    return BatchCounts(
        index=batch.index,
        key=key,
        appointments=len(lines),
        model_calls=calls,
        cached=sum(1 for r in readings if r.cached),
        fallbacks=sum(1 for r in readings if r.fallback is not None),
    )


def line_for(appointment: AppointmentSignals, base: float, reading: Reading, threshold: float) -> ScoreLine:
    notes = reading.reading
    score = scoring.final_score(base, notes.adjustment)
    return ScoreLine(
        event_id=appointment.event_id,
        contact_id=appointment.contact_id,
        status=appointment.status,
        base_probability=base,
        points=scoring.points(appointment),
        adjustment=notes.adjustment,
        score=score,
        route=scoring.route_for(score, confirmed=appointment.confirmed, threshold=threshold),
        recommended_action=notes.recommended_action,
        reason=notes.reason,
        fallback=reading.fallback,
        cached=reading.cached,
    )


@step_handler(BatchInput)
def handler(payload: BatchInput, ctx: StepContext) -> BatchCounts:
    return score_batch(payload, calendar=get_calendar(), files=get_files(), llm=get_llm_client(), ctx=ctx)
