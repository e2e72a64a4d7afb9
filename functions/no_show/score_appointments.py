"""ScoreAppointments (pure + LLM classify): points model + a bounded reading of the notes.

For each appointment: the deterministic probability from ``scoring`` (documented points on the
logistic scale), then, when the booking has notes, one LLM call that reads them and answers a
validated ``NotesReading`` (adjustment in [-0.2, 0.2], an action from a fixed list, a reason).
Code combines the two and picks the route; the model never chooses who is contacted or
escalated by itself. The full report (points, reasons) goes to file storage; the state keeps one
small list per route (the input of that route's Map) and the report's key + sha256.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from functions.no_show import scoring
from functions.no_show.models import (
    AppointmentSignals,
    MapItem,
    NotesReading,
    ReportRef,
    Route,
    Scored,
    ScoreLine,
    ScoringReport,
    Signals,
)
from functions.no_show.prompts import PLAYBOOK
from functions.shared.adapters import get_calendar, get_files
from functions.shared.llm import LLMCallContext, LLMClient, get_llm_client
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

MAX_NOTES_CHARS = 2000
NO_NOTES = NotesReading(
    adjustment=0.0,
    recommended_action="call",
    reason="No notes on the booking: the score is the model's alone.",
)


class ScoreInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: Signals
    risk_threshold: float


def read_notes(
    appointment: AppointmentSignals,
    base: float,
    *,
    calendar: CalendarPort,
    llm: LLMClient,
    ctx: StepContext,
) -> tuple[NotesReading, dict[str, Any] | None]:
    """The LLM's reading of the booking notes, or a neutral reading when there are none."""
    event = calendar.get_event(appointment.event_id) if appointment.has_notes else None
    notes = (event.notes or "").strip()[:MAX_NOTES_CHARS] if event is not None else ""
    if not notes:
        return NO_NOTES, None
    facts = {
        "appointment": appointment.model_dump(mode="json", exclude={"has_notes"}),
        "base_probability": base,
        "notes": notes,
    }
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
    return result.value, result.summary()


def score_appointments(
    payload: ScoreInput, *, calendar: CalendarPort, files: FileStore, llm: LLMClient, ctx: StepContext
) -> Scored:
    lines: list[ScoreLine] = []
    summaries: list[dict[str, Any]] = []
    for appointment in payload.signals.appointments:
        base = scoring.base_probability(appointment)
        reading, summary = read_notes(appointment, base, calendar=calendar, llm=llm, ctx=ctx)
        if summary is not None:
            summaries.append({"event_id": appointment.event_id, **summary})
        score = scoring.final_score(base, reading.adjustment)
        lines.append(
            ScoreLine(
                event_id=appointment.event_id,
                contact_id=appointment.contact_id,
                base_probability=base,
                points=scoring.points(appointment),
                adjustment=reading.adjustment,
                score=score,
                route=scoring.route_for(
                    score, confirmed=appointment.confirmed, threshold=payload.risk_threshold
                ),
                recommended_action=reading.recommended_action,
                reason=reading.reason,
            )
        )
    report = ScoringReport(
        day=payload.signals.day,
        owner=payload.signals.owner,
        risk_threshold=payload.risk_threshold,
        lines=lines,
    )
    text = report.model_dump_json(indent=2)
    key = f"no_show/{ctx.execution}/{ctx.state}-{ctx.attempt}.json"
    files.put_text(key, text)
    statuses = {a.event_id: a.status for a in payload.signals.appointments}
    routed: dict[Route, list[MapItem]] = {"confirm": [], "escalate": [], "already_confirmed": []}
    for line in lines:  # start order, within each list
        routed[line.route].append(
            MapItem(
                event_id=line.event_id,
                contact_id=line.contact_id,
                status=statuses[line.event_id],
                score=line.score,
                route=line.route,
                recommended_action=line.recommended_action,
            )
        )
    return Scored(
        to_confirm=routed["confirm"],
        to_escalate=routed["escalate"],
        already_confirmed=routed["already_confirmed"],
        report=ReportRef(key=key, sha256=sha256_text(text)),
        llm=summaries,
    )


@step_handler(ScoreInput)
def handler(payload: ScoreInput, ctx: StepContext) -> Scored:
    return score_appointments(
        payload, calendar=get_calendar(), files=get_files(), llm=get_llm_client(), ctx=ctx
    )
