"""CollectSignals (pure): the day's open appointments and their signals, written as batch files.

From the calendar (the system of record for appointments): the owner's appointments that start on
``day`` (UTC), and for each contact the appointment history before that day (no-shows, visits
attended) and the lead time between booking and the appointment. Cancelled, moved and no-show
events of the day are counted as ``skipped``; appointments without a contact cannot be confirmed
and are skipped too. The notes are not copied: the scoring step reads them.

Nothing that grows with the day goes into the state. The appointments are written to batch files
of ``BATCH_SIZE`` (``<prefix>/batches/0001.json``) and a manifest lists them
(``<prefix>/batches.json``, the Distributed Maps' ``ItemReader``); the step returns ``RunFiles``
(keys and counts). The contacts' histories are read with a bounded thread pool (one index query
per contact, each contact once however many appointments it has that day), so a 10,000-appointment
day is not 10,000 serial queries inside one 30 s Lambda.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta

from functions.no_show.models import AppointmentSignals, BatchRef, NoShowRequest, RunFiles, SignalsBatch
from functions.shared.adapters import get_calendar, get_files
from functions.shared.config import settings
from functions.shared.ports.calendar import CalendarEvent, CalendarPort
from functions.shared.ports.crm import parse_timestamp
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler

OPEN_STATUSES = {"scheduled", "confirmed"}
ATTENDED_STATUSES = {"scheduled", "confirmed"}  # a past appointment nobody marked as a no-show
#: Appointments per batch file = per Distributed Map child (scoring: 40% with notes → ~20 model
#: calls per child at most, well inside the scoring Lambda's 60 s with its thread pool).
BATCH_SIZE = 50
#: Concurrent history queries (DynamoDB index reads) in CollectSignals.
HISTORY_THREADS = 16


def day_bounds(day: str) -> tuple[str, str]:
    """``[day 00:00Z, next day 00:00Z)`` as ISO strings."""
    start = datetime.combine(datetime.fromisoformat(day).date(), time.min)
    return f"{start.isoformat()}Z", f"{(start + timedelta(days=1)).isoformat()}Z"


def run_prefix(owner: str, day: str, execution: str) -> str:
    """Where one run's files live: per owner and day (browsable), then per execution (reruns apart)."""
    return f"no_show/{owner.lower()}/{day}/{execution}"


def signals_for(event: CalendarEvent, history: list[CalendarEvent], day_start: str) -> AppointmentSignals:
    cutoff = parse_timestamp(day_start)
    past = [e for e in history if e.event_id != event.event_id and parse_timestamp(e.starts_at) < cutoff]
    lead = None
    if event.booked_at is not None:
        delta = parse_timestamp(event.starts_at) - parse_timestamp(event.booked_at)
        lead = round(max(delta.total_seconds(), 0.0) / 3600, 2)
    assert event.contact_id is not None
    return AppointmentSignals(
        event_id=event.event_id,
        contact_id=event.contact_id,
        starts_at=event.starts_at,
        status="confirmed" if event.status == "confirmed" else "scheduled",
        past_no_shows=sum(1 for e in past if e.status == "no_show"),
        past_attended=sum(1 for e in past if e.status in ATTENDED_STATUSES),
        lead_time_hours=lead,
        has_notes=bool(event.notes and event.notes.strip()),
    )


def histories(calendar: CalendarPort, contact_ids: list[str]) -> dict[str, list[CalendarEvent]]:
    """Each contact's history once, read by a bounded pool (the port's query is per contact)."""
    unique = sorted(set(contact_ids))
    if len(unique) <= 1:
        return {contact: calendar.history(contact) for contact in unique}
    with ThreadPoolExecutor(max_workers=min(HISTORY_THREADS, len(unique))) as pool:
        return dict(zip(unique, pool.map(calendar.history, unique), strict=True))


def collect_signals(
    request: NoShowRequest, *, calendar: CalendarPort, files: FileStore, bucket: str, ctx: StepContext
) -> RunFiles:
    day = request.day.isoformat()
    starts_from, starts_before = day_bounds(day)
    events = calendar.list_events(
        owner=request.owner, starts_from=starts_from, starts_before=starts_before, kind="appointment"
    )
    open_events = [e for e in events if e.status in OPEN_STATUSES and e.contact_id]
    by_contact = histories(calendar, [e.contact_id for e in open_events if e.contact_id is not None])
    appointments = [
        signals_for(event, by_contact[event.contact_id], starts_from)
        for event in open_events
        if event.contact_id is not None
    ]
    prefix = run_prefix(request.owner, day, ctx.execution)
    run = RunFiles(
        day=day,
        owner=request.owner,
        bucket=bucket,
        prefix=prefix,
        manifest_key=f"{prefix}/batches.json",
        batches=0,
        appointments=len(appointments),
        skipped=len(events) - len(appointments),
        risk_threshold=request.risk_threshold,
    )
    manifest: list[BatchRef] = []
    for start in range(0, len(appointments), BATCH_SIZE):
        index = len(manifest) + 1
        key = run.key("batches", index)
        files.put_json(key, SignalsBatch(index=index, appointments=appointments[start : start + BATCH_SIZE]))
        manifest.append(BatchRef(index=index, key=key))
    files.put_json(run.manifest_key, manifest)  # last: a manifest only lists batches that exist
    return run.model_copy(update={"batches": len(manifest)})


@step_handler(NoShowRequest)
def handler(request: NoShowRequest, ctx: StepContext) -> RunFiles:
    return collect_signals(
        request, calendar=get_calendar(), files=get_files(), bucket=settings().files_bucket, ctx=ctx
    )
