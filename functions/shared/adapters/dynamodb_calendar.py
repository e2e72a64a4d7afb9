"""Calendar adapter on the single-table DynamoDB layout of ``functions.shared.tables`` (low-level client).

Items: ``pk = "EVENT#<event_id>"``, ``sk = "EVENT"``: the event, plus three index keys whose sort key
is ``"<starts_at, fixed-width UTC>#<event_id>"`` (string order = time order):

- ``gsi1pk = "OWNER#<owner, lower-case>"``: an owner's calendar (``list_events(owner=...)``).
- ``gsi2pk = "MONTH#<yyyy-mm of starts_at, UTC>"``: everyone's events by month (``list_events()``).
- ``gsi3pk = "CONTACT#<contact_id>"`` (only events with a contact): a contact's history.

Reads by id are strongly consistent; lists read the indexes and are eventually consistent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from functions.shared.adapters.dynamodb_items import deserialize, serialize
from functions.shared.adapters.dynamodb_status import transition_status
from functions.shared.adapters.errors import aws_errors
from functions.shared.aws import client
from functions.shared.errors import BusinessRuleError
from functions.shared.ports.calendar import CalendarConflict, CalendarEvent, EventStatus, normalise_owner
from functions.shared.ports.crm import sortable_timestamp

Item = dict[str, Any]

EVENT_SK = "EVENT"
OWNER_INDEX = "gsi1"
MONTH_INDEX = "gsi2"
CONTACT_INDEX = "gsi3"


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def event_order_key(event: CalendarEvent) -> str:
    return f"{sortable_timestamp(event.starts_at)}#{event.event_id}"


def owner_gsi_pk(owner: str) -> str:
    return f"OWNER#{normalise_owner(owner)}"


def month_gsi_pk(sortable: str) -> str:
    return f"MONTH#{sortable[:7]}"


def months_between(first: str, last: str) -> Iterator[str]:
    """``"yyyy-mm"`` of every month from ``first`` to ``last`` (sortable timestamps), inclusive."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    while (year, month) <= end:
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _to_event(item: Item) -> CalendarEvent:
    values = deserialize(item)
    return CalendarEvent.model_validate({k: v for k, v in values.items() if k in CalendarEvent.model_fields})


def _ordered(events: list[CalendarEvent]) -> list[CalendarEvent]:
    return sorted(events, key=event_order_key)


def event_item(event: CalendarEvent) -> Item:
    """The table item of ``event``, with its index keys (also what a bulk load writes)."""
    order = event_order_key(event)
    return serialize(
        {
            "pk": event_pk(event.event_id),
            "sk": EVENT_SK,
            "gsi1pk": owner_gsi_pk(event.owner),
            "gsi1sk": order,
            "gsi2pk": month_gsi_pk(order),
            "gsi2sk": order,
            "gsi3pk": f"CONTACT#{event.contact_id}" if event.contact_id else None,
            "gsi3sk": order if event.contact_id else None,
            **event.model_dump(),
        }
    )


class DynamoDbCalendar:
    """``CalendarPort`` on DynamoDB (client from ``functions.shared.aws.client`` on every call)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def put_event(self, event: CalendarEvent) -> None:
        item = event_item(event)
        with aws_errors("calendar.put_event"):
            self._ddb.put_item(TableName=self.table_name, Item=item)

    def get_event(self, event_id: str) -> CalendarEvent | None:
        with aws_errors("calendar.get_event"):
            response = self._ddb.get_item(
                TableName=self.table_name,
                Key=serialize({"pk": event_pk(event_id), "sk": EVENT_SK}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _to_event(item) if item else None

    def list_events(
        self,
        *,
        owner: str | None = None,
        starts_from: str,
        starts_before: str,
        kind: str | None = None,
    ) -> list[CalendarEvent]:
        low, high = sortable_timestamp(starts_from), sortable_timestamp(starts_before)
        if high <= low:
            return []
        # "<high>#<id>" sorts above "<high>": BETWEEN low AND high = starts_from <= starts_at < starts_before
        if owner is not None:
            partitions = [(OWNER_INDEX, owner_gsi_pk(owner))]
        else:
            partitions = [(MONTH_INDEX, f"MONTH#{month}") for month in months_between(low, high)]
        items: list[Item] = []
        for index, partition in partitions:
            values: dict[str, Any] = {":pk": partition, ":low": low, ":high": high}
            kwargs: dict[str, Any] = {}
            if kind is not None:
                kwargs["FilterExpression"] = "#kind = :kind"
                kwargs["ExpressionAttributeNames"] = {"#kind": "kind"}
                values[":kind"] = kind
            items += self._query(
                "calendar.list_events",
                IndexName=index,
                KeyConditionExpression=f"{index}pk = :pk AND {index}sk BETWEEN :low AND :high",
                ExpressionAttributeValues=serialize(values),
                **kwargs,
            )
        return _ordered([_to_event(item) for item in items])

    def set_status(
        self,
        event_id: str,
        status: EventStatus,
        *,
        expected: EventStatus | None = None,
        confirmed_at: str | None = None,
        clear_confirmed_at: bool = False,
    ) -> EventStatus:
        names = {"#status": "status"}
        values: dict[str, Any] = {":new": status}
        update = "SET #status = :new"
        if confirmed_at is not None:
            sortable_timestamp(confirmed_at)  # ValueError on a malformed timestamp
            update += ", #confirmed = :confirmed"
            names["#confirmed"] = "confirmed_at"
            values[":confirmed"] = confirmed_at
        elif clear_confirmed_at:
            update += " REMOVE #confirmed"
            names["#confirmed"] = "confirmed_at"
        previous = transition_status(
            self._ddb,
            table=self.table_name,
            key={"pk": event_pk(event_id), "sk": EVENT_SK},
            operation="calendar.set_status",
            update=update,
            names=names,
            values=values,
            expected=expected,
            unknown=lambda: BusinessRuleError(f"calendar.set_status: unknown event {event_id}"),
            conflict=lambda actual: CalendarConflict(
                event_id, expected=cast(EventStatus, expected), actual=cast(EventStatus, actual)
            ),
            default="scheduled",
        )
        return cast(EventStatus, previous)

    def history(self, contact_id: str) -> list[CalendarEvent]:
        items = self._query(
            "calendar.history",
            IndexName=CONTACT_INDEX,
            KeyConditionExpression="gsi3pk = :pk",
            ExpressionAttributeValues=serialize({":pk": f"CONTACT#{contact_id}"}),
        )
        return _ordered([_to_event(item) for item in items])

    def _query(self, operation: str, **kwargs: Any) -> list[Item]:
        with aws_errors(operation):
            pages = self._ddb.get_paginator("query").paginate(TableName=self.table_name, **kwargs)
            return [item for page in pages for item in page.get("Items", [])]
