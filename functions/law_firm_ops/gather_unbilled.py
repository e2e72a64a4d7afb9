"""GatherUnbilled (pure): attorney work the calendar and the CRM show and no time entry covers.

Sources, all systems of record:
- calendar events of the client (``history``: the contact index, under the client's CRM id and
  the id derived from its email, which the scheduling form uses) owned by the responsible
  attorney, that already ended and were not cancelled, no-shows or rescheduled;
- CRM activities of kind ``email_sent`` on the client sent by the attorney (``details.from``),
  except those this run wrote.
An item is covered when a time entry of the client (any status but void) names it as its
``source``, or when the attorney logged time for the client on the same day (the firm logs per
day). The comparison is code; the LLM only proposes entries for what is left, the oldest
``MAX_PROPOSED_ENTRIES`` of it; how many more are left out is reported (``left_out``), so the
attorney and the run's outcome say so instead of dropping them silently. Covered items are
counted, not listed (``covered_count``): the state stays the same size for a client with 5 or
5,000 past consultations.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import (
    MAX_EMAIL_MINUTES,
    MAX_PROPOSED_ENTRIES,
    MIN_ENTRY_MINUTES,
    ClientIdentity,
    Unbilled,
    UnbilledItem,
    derived_client_id,
)
from functions.shared.adapters import get_billing, get_calendar, get_crm
from functions.shared.ports.billing import MAX_MINUTES_PER_ENTRY, BillingPort
from functions.shared.ports.calendar import CalendarPort, normalise_owner
from functions.shared.ports.crm import CrmPort, parse_timestamp
from functions.shared.step_handler import StepContext, step_handler

SKIPPED_EVENT_STATUSES = {"cancelled", "no_show", "rescheduled"}


class GatherInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    attorney_email: str


def _billable_minutes(starts_at: str, ends_at: str) -> int:
    minutes = (parse_timestamp(ends_at) - parse_timestamp(starts_at)).total_seconds() / 60
    rounded = math.ceil(minutes / MIN_ENTRY_MINUTES) * MIN_ENTRY_MINUTES
    return max(MIN_ENTRY_MINUTES, min(rounded, MAX_MINUTES_PER_ENTRY))


def gather_unbilled(
    payload: GatherInput,
    *,
    calendar: CalendarPort,
    crm: CrmPort,
    billing: BillingPort,
    ctx: StepContext,
    now: datetime | None = None,
) -> Unbilled:
    moment = now or datetime.now(UTC)
    client_id, attorney = payload.identity.client_id, normalise_owner(payload.attorney_email)
    candidates: list[UnbilledItem] = []
    # A client the CRM knew before the intake keeps its contact id, but the scheduling form files
    # consultations (and the time logged for them) under the id derived from the email: read both.
    client_ids = list(dict.fromkeys([client_id, derived_client_id(payload.identity.email)]))
    history = {event.event_id: event for owner_id in client_ids for event in calendar.history(owner_id)}
    for event in history.values():
        if (
            normalise_owner(event.owner) != attorney
            or event.status in SKIPPED_EVENT_STATUSES
            or parse_timestamp(event.ends_at) > moment
        ):
            continue
        candidates.append(
            UnbilledItem(
                source_id=event.event_id,
                kind="event",
                date=parse_timestamp(event.starts_at).date().isoformat(),
                title=f"{event.kind}: {event.title}"[:200],
                max_minutes=_billable_minutes(event.starts_at, event.ends_at),
            )
        )
    for activity in crm.list_activities(client_id):
        sender = str(activity.details.get("from") or "")
        if (
            activity.kind != "email_sent"
            or activity.trace_id == ctx.trace_id
            or normalise_owner(sender) != attorney
        ):
            continue
        candidates.append(
            UnbilledItem(
                source_id=f"email:{activity.activity_id}",
                kind="email",
                date=parse_timestamp(activity.at).date().isoformat(),
                title=f"email: {activity.summary}"[:200],
                max_minutes=MAX_EMAIL_MINUTES,
            )
        )
    entries = [
        e
        for owner_id in client_ids
        for e in billing.list_time_entries(client_id=owner_id)
        if e.status != "void"
    ]
    sources = {e.source for e in entries if e.source}
    logged_days = {e.date for e in entries if normalise_owner(e.attorney) == attorney}
    uncovered = sorted(
        (c for c in candidates if c.source_id not in sources and c.date not in logged_days),
        key=lambda c: (c.date, c.source_id),
    )
    items = uncovered[:MAX_PROPOSED_ENTRIES]
    return Unbilled(
        count=len(items),
        items=items,
        covered_count=len(candidates) - len(uncovered),
        left_out=len(uncovered) - len(items),
    )


@step_handler(GatherInput)
def handler(payload: GatherInput, ctx: StepContext) -> Unbilled:
    return gather_unbilled(payload, calendar=get_calendar(), crm=get_crm(), billing=get_billing(), ctx=ctx)
