"""CollectSignals (pure): the day's open appointments and each one's deterministic signals.

From the calendar (the system of record for appointments): the owner's appointments that start on
``day`` (UTC), and for each contact the appointment history before that day (no-shows, visits
attended) and the lead time between booking and the appointment. Cancelled, moved and no-show
events of the day are counted as ``skipped``; appointments without a contact cannot be confirmed
and are skipped too. The notes are not copied into the state: the scoring step reads them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from functions.no_show.models import AppointmentSignals, NoShowRequest, Signals
from functions.shared.adapters import get_calendar
from functions.shared.ports.calendar import CalendarEvent, CalendarPort
from functions.shared.ports.crm import parse_timestamp
from functions.shared.step_handler import StepContext, step_handler

OPEN_STATUSES = {"scheduled", "confirmed"}
ATTENDED_STATUSES = {"scheduled", "confirmed"}  # a past appointment nobody marked as a no-show


def day_bounds(day: str) -> tuple[str, str]:
    """``[day 00:00Z, next day 00:00Z)`` as ISO strings."""
    start = datetime.combine(datetime.fromisoformat(day).date(), time.min)
    return f"{start.isoformat()}Z", f"{(start + timedelta(days=1)).isoformat()}Z"


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


def collect_signals(request: NoShowRequest, *, calendar: CalendarPort) -> Signals:
    day = request.day.isoformat()
    starts_from, starts_before = day_bounds(day)
    events = calendar.list_events(
        owner=request.owner, starts_from=starts_from, starts_before=starts_before, kind="appointment"
    )
    open_events = [e for e in events if e.status in OPEN_STATUSES and e.contact_id]
    appointments = [
        signals_for(event, calendar.history(event.contact_id), starts_from)
        for event in open_events
        if event.contact_id is not None
    ]
    return Signals(
        day=day, owner=request.owner, appointments=appointments, skipped=len(events) - len(appointments)
    )


@step_handler(NoShowRequest)
def handler(request: NoShowRequest, ctx: StepContext) -> Signals:
    return collect_signals(request, calendar=get_calendar())
