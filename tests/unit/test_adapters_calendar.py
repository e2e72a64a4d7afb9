"""Calendar port: the same scenarios against DynamoDbCalendar (on moto) and InMemoryCalendar."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from pydantic import ValidationError

from functions.shared.adapters import get_calendar, override_adapters, reset_adapters
from functions.shared.adapters.dynamodb_calendar import DynamoDbCalendar, months_between
from functions.shared.adapters.dynamodb_items import deserialize
from functions.shared.adapters.memory import InMemoryCalendar
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import BusinessRuleError, TransientIntegrationError
from functions.shared.ports.calendar import CalendarConflict, CalendarEvent, CalendarPort
from local.resources import SEED_LOADERS


def make_event(event_id: str, starts_at: str, **changes: Any) -> CalendarEvent:
    values: dict[str, Any] = {
        "event_id": event_id,
        "owner": "ada@firm.example",
        "title": f"event {event_id}",
        "starts_at": starts_at,
        "ends_at": "2099-01-01T00:00:00Z",
        "kind": "appointment",
        "contact_id": "ct-1",
    }
    return CalendarEvent(**(values | changes))


@pytest.fixture(params=["dynamodb", "memory"])
def calendar(request: pytest.FixtureRequest) -> CalendarPort:
    """Each scenario runs against both implementations: the fake must behave like the adapter."""
    if request.param == "dynamodb":
        request.getfixturevalue("moto_aws")
        return DynamoDbCalendar(table_name=settings().calendar_table)
    return InMemoryCalendar()


def test_event_round_trip_and_replace(calendar: CalendarPort) -> None:
    # Given an event with optional fields set and unset
    event = make_event(
        "ev-1",
        "2024-05-01T09:00:00Z",
        ends_at="2024-05-01T09:30:00Z",
        client_id=None,
        notes="Bring ID",
        booked_at="2024-04-20T12:00:00Z",
    )

    # When it is stored, read back, then replaced
    calendar.put_event(event)
    loaded = calendar.get_event("ev-1")
    calendar.put_event(event.model_copy(update={"title": "Intake call"}))

    # Then it round-trips, the replace wins, and an unknown id reads as None
    assert isinstance(calendar, CalendarPort)
    assert loaded == event
    replaced = calendar.get_event("ev-1")
    assert replaced is not None
    assert replaced.title == "Intake call"
    assert calendar.get_event("ev-unknown") is None


def test_event_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends_at"):
        make_event("ev-1", "2024-05-01T10:00:00Z", ends_at="2024-05-01T09:00:00Z")


def test_list_events_filters_by_half_open_window_owner_and_kind(calendar: CalendarPort) -> None:
    # Given events across a month boundary, two owners and kinds, with different UTC spellings
    calendar.put_event(make_event("ev-apr", "2024-04-30T23:30:00Z"))
    calendar.put_event(make_event("ev-b", "2024-05-01T12:00:00+02:00"))  # 10:00 UTC
    calendar.put_event(make_event("ev-a", "2024-05-01T10:00:00.000Z"))  # ties with ev-b
    calendar.put_event(
        make_event("ev-court", "2024-05-02T09:00:00Z", kind="court", owner="Grace@Firm.example")
    )
    calendar.put_event(make_event("ev-end", "2024-05-03T00:00:00Z"))
    calendar.put_event(make_event("ev-jun", "2024-06-15T09:00:00Z", status="cancelled"))

    def ids(**filters: Any) -> list[str]:
        return [event.event_id for event in calendar.list_events(**filters)]

    # When / Then: starts_from inclusive, starts_before exclusive, ordered by (starts_at, event_id)
    may = {"starts_from": "2024-05-01T00:00:00Z", "starts_before": "2024-05-03T00:00:00Z"}
    assert ids(**may) == ["ev-a", "ev-b", "ev-court"]
    assert ids(starts_from="2024-04-30T00:00:00Z", starts_before="2024-07-01T00:00:00Z") == [
        "ev-apr",
        "ev-a",
        "ev-b",
        "ev-court",
        "ev-end",
        "ev-jun",
    ]
    assert ids(owner="GRACE@firm.example", **may) == ["ev-court"]
    assert ids(owner="ada@firm.example", **may) == ["ev-a", "ev-b"]
    assert ids(kind="court", **may) == ["ev-court"]
    assert ids(owner="ada@firm.example", kind="court", **may) == []
    assert ids(starts_from="2024-05-03T00:00:00Z", starts_before="2024-05-01T00:00:00Z") == []
    # and an offset window means the same instants
    assert ids(starts_from="2024-05-01T02:00:00+02:00", starts_before="2024-05-01T12:00:00+02:00") == []


def test_set_status_returns_previous_and_stores_confirmation(calendar: CalendarPort) -> None:
    # Given a scheduled appointment
    calendar.put_event(make_event("ev-1", "2024-05-01T09:00:00Z"))

    # When it is confirmed, then marked as a no-show
    first = calendar.set_status(
        "ev-1", "confirmed", expected="scheduled", confirmed_at="2024-04-30T08:00:00Z"
    )
    second = calendar.set_status("ev-1", "no_show")

    # Then each call returns the status it replaced, and the confirmation time is kept
    assert (first, second) == ("scheduled", "confirmed")
    loaded = calendar.get_event("ev-1")
    assert loaded is not None
    assert (loaded.status, loaded.confirmed_at) == ("no_show", "2024-04-30T08:00:00Z")


def test_a_revert_can_remove_the_confirmation_time(calendar: CalendarPort) -> None:
    # Given a confirmed event (a compensation restores "scheduled, never confirmed")
    calendar.put_event(make_event("ev-1", "2024-05-01T09:00:00Z"))
    calendar.set_status("ev-1", "confirmed", expected="scheduled", confirmed_at="2024-04-30T08:00:00Z")

    # When it is set back with clear_confirmed_at
    calendar.set_status("ev-1", "scheduled", expected="confirmed", clear_confirmed_at=True)

    # Then no confirmation time is left behind
    loaded = calendar.get_event("ev-1")
    assert loaded is not None
    assert (loaded.status, loaded.confirmed_at) == ("scheduled", None)


def test_set_status_with_stale_expectation_raises_calendar_conflict(calendar: CalendarPort) -> None:
    # Given an appointment someone already cancelled
    calendar.put_event(make_event("ev-1", "2024-05-01T09:00:00Z", status="cancelled"))

    # When a step expects it to still be scheduled
    with pytest.raises(CalendarConflict) as raised:
        calendar.set_status("ev-1", "confirmed", expected="scheduled")

    # Then the conflict names both statuses, is a BusinessRuleError, and nothing changed
    assert (raised.value.expected, raised.value.actual) == ("scheduled", "cancelled")
    assert isinstance(raised.value, BusinessRuleError)
    loaded = calendar.get_event("ev-1")
    assert loaded is not None
    assert loaded.status == "cancelled"


def test_set_status_of_unknown_event_raises_business_rule_error(calendar: CalendarPort) -> None:
    with pytest.raises(BusinessRuleError) as raised:
        calendar.set_status("ev-ghost", "confirmed", expected="scheduled")
    assert not isinstance(raised.value, CalendarConflict)
    assert calendar.get_event("ev-ghost") is None


def test_history_lists_a_contacts_events_in_start_order(calendar: CalendarPort) -> None:
    # Given a contact's events (one a no-show) stored out of order, and events of others / of nobody
    calendar.put_event(make_event("ev-3", "2024-06-01T09:00:00Z"))
    calendar.put_event(make_event("ev-1", "2024-03-01T09:00:00Z", status="no_show"))
    calendar.put_event(make_event("ev-2", "2024-05-01T09:00:00Z", owner="grace@firm.example"))
    calendar.put_event(make_event("ev-x", "2024-04-01T09:00:00Z", contact_id="ct-2"))
    calendar.put_event(make_event("ev-internal", "2024-04-01T09:00:00Z", contact_id=None, kind="meeting"))
    calendar.set_status("ev-3", "cancelled")

    # When the contact's history is read
    history = calendar.history("ct-1")

    # Then it has all (and only) their events, oldest first, with current statuses
    assert [(e.event_id, e.status) for e in history] == [
        ("ev-1", "no_show"),
        ("ev-2", "scheduled"),
        ("ev-3", "cancelled"),
    ]
    assert calendar.history("ct-nobody") == []


# -- DynamoDB specifics, factory, seed -------------------------------------------------------------


def test_months_between_crosses_years() -> None:
    assert list(months_between("2024-11-30T00:00:00.000000Z", "2025-02-01T00:00:00.000000Z")) == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
    ]


def test_dynamodb_item_layout_matches_the_table_contract(moto_aws: None) -> None:
    # Given an event with a contact and one without
    calendar = DynamoDbCalendar(table_name=settings().calendar_table)
    calendar.put_event(make_event("ev-1", "2024-05-01T11:00:00+02:00", owner="Ada@Firm.example"))
    calendar.put_event(make_event("ev-2", "2024-05-02T09:00:00Z", contact_id=None))

    # When the raw items are read
    items = client("dynamodb").scan(TableName=settings().calendar_table)["Items"]
    by_pk = {item["pk"]: item for item in map(deserialize, items)}

    # Then the keys follow the documented layout; an event without contact is not in the contact index
    first = by_pk["EVENT#ev-1"]
    order = "2024-05-01T09:00:00.000000Z#ev-1"
    assert first["sk"] == "EVENT"
    assert (first["gsi1pk"], first["gsi1sk"]) == ("OWNER#ada@firm.example", order)
    assert (first["gsi2pk"], first["gsi2sk"]) == ("MONTH#2024-05", order)
    assert (first["gsi3pk"], first["gsi3sk"]) == ("CONTACT#ct-1", order)
    assert "gsi3pk" not in by_pk["EVENT#ev-2"]


def test_get_calendar_builds_the_dynamodb_adapter_once_and_can_be_overridden(moto_aws: None) -> None:
    first, second = get_calendar(), get_calendar()
    fake = InMemoryCalendar()
    with override_adapters(calendar=fake):
        overridden = get_calendar()
    reset_adapters()

    assert first is second
    assert isinstance(first, DynamoDbCalendar)
    assert first.table_name == settings().calendar_table
    assert overridden is fake
    assert get_calendar() is not first


def test_unreachable_dynamodb_raises_transient_error(moto_aws: None) -> None:
    # Given the DynamoDB endpoint cannot be reached
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client("dynamodb").meta.events.register("before-send.dynamodb.UpdateItem", unreachable)
    calendar = DynamoDbCalendar(table_name=settings().calendar_table)

    # When / Then a status change fails with a retryable error
    with pytest.raises(TransientIntegrationError, match=r"^calendar.set_status: EndpointConnectionError"):
        calendar.set_status("ev-1", "confirmed")


def test_seed_loader_loads_the_calendar_shape(moto_aws: None) -> None:
    # Given a calendar.json document
    event = make_event("ev-1", "2024-05-01T09:00:00Z")

    # When it is loaded
    SEED_LOADERS["calendar"]({"events": [event.model_dump()]})

    # Then the event is in the calendar
    assert get_calendar().get_event("ev-1") == event
