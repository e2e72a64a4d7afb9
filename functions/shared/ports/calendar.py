"""Calendar port: appointments and attorney/staff calendars.

Adapters: ``functions.shared.adapters.dynamodb_calendar.DynamoDbCalendar`` (cloud and local runtime)
and ``functions.shared.adapters.memory.InMemoryCalendar`` (domain unit tests), with the same
semantics (``tests/unit/test_adapters_calendar.py`` runs the same scenarios against both).

Times are ISO-8601 (a value without offset is UTC) and compared as instants, whatever their spelling.
"""

from __future__ import annotations

from typing import Literal, Protocol, Self, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.shared.errors import BusinessRuleError
from functions.shared.ports.crm import Identifier, IsoTimestamp, parse_timestamp

EventKind = Literal["appointment", "meeting", "call", "court", "other"]
EventStatus = Literal["scheduled", "confirmed", "cancelled", "no_show", "rescheduled"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
EVENT_STATUSES: tuple[EventStatus, ...] = get_args(EventStatus)

_MODEL_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


def normalise_owner(owner: str) -> str:
    """The form owners are matched on: stripped and lower-cased."""
    return owner.strip().lower()


class CalendarEvent(BaseModel):
    model_config = _MODEL_CONFIG

    event_id: Identifier
    owner: str = Field(min_length=1, max_length=254)  # attorney/staff email or a resource (room)
    title: str = Field(min_length=1, max_length=500)
    starts_at: IsoTimestamp
    ends_at: IsoTimestamp
    kind: EventKind = "meeting"
    contact_id: Identifier | None = None
    client_id: Identifier | None = None
    status: EventStatus = "scheduled"
    confirmed_at: IsoTimestamp | None = None
    notes: str | None = None
    booked_at: IsoTimestamp | None = None  # when it was booked (lead time)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if parse_timestamp(self.ends_at) < parse_timestamp(self.starts_at):
            raise ValueError("ends_at is before starts_at")
        return self


class CalendarConflict(BusinessRuleError):
    """``set_status(expected=...)`` found the event in another status (someone changed it first).

    Lambda reports it as error type ``CalendarConflict``; an ASL ``Catch`` on ``BusinessRuleError``
    does not match it by inheritance, so domain code catches it.
    """

    def __init__(self, event_id: str, *, expected: EventStatus, actual: EventStatus) -> None:
        super().__init__(f"event {event_id}: expected status {expected!r}, found {actual!r}")
        self.event_id = event_id
        self.expected = expected
        self.actual = actual


@runtime_checkable
class CalendarPort(Protocol):
    def put_event(self, event: CalendarEvent) -> None:
        """Create or replace the event (idempotent: same id, same event)."""
        ...

    def get_event(self, event_id: str) -> CalendarEvent | None:
        """The event (strongly consistent), or ``None`` if unknown."""
        ...

    def list_events(
        self,
        *,
        owner: str | None = None,
        starts_from: str,
        starts_before: str,
        kind: str | None = None,
    ) -> list[CalendarEvent]:
        """Events with ``starts_from <= starts_at < starts_before`` (any status), of ``owner``
        (case-insensitive) and ``kind`` if given, ordered by ``(starts_at, event_id)``.
        On DynamoDB it reads an index: eventually consistent (use ``get_event`` to decide on one)."""
        ...

    def set_status(
        self,
        event_id: str,
        status: EventStatus,
        *,
        expected: EventStatus | None = None,
        confirmed_at: str | None = None,
        clear_confirmed_at: bool = False,
    ) -> EventStatus:
        """Change the status atomically and return the PREVIOUS one; ``confirmed_at`` is stored too
        when given, and removed with ``clear_confirmed_at`` (a compensation restoring "never
        confirmed"). Raises ``CalendarConflict`` if ``expected`` differs from the current status,
        ``BusinessRuleError`` if the event does not exist."""
        ...

    def history(self, contact_id: str) -> list[CalendarEvent]:
        """All events of a contact (e.g. no-show history), ordered by ``(starts_at, event_id)``.
        On DynamoDB it reads an index: eventually consistent."""
        ...
