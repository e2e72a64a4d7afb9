"""Billing adapter on the single-table DynamoDB layout of ``functions.shared.tables`` (low-level client).

Items:

- ``pk = "CLIENT#<client_id>"``:
  - ``sk = "RATE"`` (the client's default hourly rate) or ``"RATE#<matter_id>"``: ``rate_cents``.
  - ``sk = "TIME#<date>#<entry_id>"``: a time entry, plus ``gsi1pk = "ATTORNEY#<attorney, lower-case>"``,
    ``gsi1sk = sk`` (an attorney's entries across clients, by date).
  - ``sk = "CREDIT#<granted_at, fixed-width UTC>#<credit_id>"``: a credit (a query returns them in order).
- ``pk = "INVOICE#<invoice_id>"``, ``sk = "INVOICE"``: an invoice, written with ``attribute_not_exists``.
- ``pk = "TIMEENTRY#<entry_id>"`` / ``"CREDITID#<credit_id>"``, ``sk = "MARKER"``: idempotency markers,
  written in one transaction with the entry/credit and guarded by ``attribute_not_exists(pk)``: a retry
  with the same id is ignored even when its other fields (date, client) differ.
"""

from __future__ import annotations

from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from functions.shared.adapters.dynamodb_items import deserialize, serialize
from functions.shared.adapters.dynamodb_once import write_once
from functions.shared.adapters.errors import aws_errors, error_code, map_client_error
from functions.shared.aws import client
from functions.shared.errors import BusinessRuleError
from functions.shared.observability import logger
from functions.shared.ports.billing import Credit, Invoice, TimeEntry, iso_date, normalise_attorney
from functions.shared.ports.crm import sortable_timestamp

ModelT = TypeVar("ModelT", bound=BaseModel)
Item = dict[str, Any]

ATTORNEY_INDEX = "gsi1"
INVOICE_SK = "INVOICE"
MARKER_SK = "MARKER"
_TIME_PREFIX = "TIME#"
# "$" sorts right after "#": "TIME#<day>$" is above every "TIME#<day>#<id>" and below the next day.
_AFTER = "$"


def client_pk(client_id: str) -> str:
    return f"CLIENT#{client_id}"


def rate_sk(matter_id: str | None) -> str:
    return "RATE" if matter_id is None else f"RATE#{matter_id}"


def time_entry_sk(entry: TimeEntry) -> str:
    return f"{_TIME_PREFIX}{entry.date}#{entry.entry_id}"


def attorney_gsi_pk(attorney: str) -> str:
    return f"ATTORNEY#{normalise_attorney(attorney)}"


def invoice_pk(invoice_id: str) -> str:
    return f"INVOICE#{invoice_id}"


def credit_sk(credit: Credit) -> str:
    return f"CREDIT#{sortable_timestamp(credit.granted_at)}#{credit.credit_id}"


def _time_bounds(since: str | None, until: str | None) -> tuple[str, str]:
    low = f"{_TIME_PREFIX}{iso_date(since)}" if since else _TIME_PREFIX
    high = f"{_TIME_PREFIX}{iso_date(until)}{_AFTER}" if until else f"TIME{_AFTER}"
    return low, high


def _to_model(model: type[ModelT], item: Item) -> ModelT:
    values = deserialize(item)
    return model.model_validate({k: v for k, v in values.items() if k in model.model_fields})


class DynamoDbBilling:
    """``BillingPort`` on DynamoDB (client from ``functions.shared.aws.client`` on every call)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    # -- rates ---------------------------------------------------------------------------------
    def set_rate(self, client_id: str, matter_id: str | None, rate_cents: int) -> None:
        if rate_cents < 0:
            raise ValueError("rate_cents must be >= 0")
        item = serialize(
            {
                "pk": client_pk(client_id),
                "sk": rate_sk(matter_id),
                "client_id": client_id,
                "matter_id": matter_id,
                "rate_cents": rate_cents,
            }
        )
        with aws_errors("billing.set_rate"):
            self._ddb.put_item(TableName=self.table_name, Item=item)

    def rate_for(self, client_id: str, matter_id: str | None) -> int | None:
        candidates = [matter_id, None] if matter_id is not None else [None]
        for candidate in candidates:
            with aws_errors("billing.rate_for"):
                response = self._ddb.get_item(
                    TableName=self.table_name,
                    Key=serialize({"pk": client_pk(client_id), "sk": rate_sk(candidate)}),
                    ConsistentRead=True,
                )
            if item := response.get("Item"):
                return int(deserialize(item)["rate_cents"])
        return None

    # -- time entries --------------------------------------------------------------------------
    def post_time_entry(self, entry: TimeEntry) -> None:
        sk = time_entry_sk(entry)
        item = serialize(
            {
                "pk": client_pk(entry.client_id),
                "sk": sk,
                "gsi1pk": attorney_gsi_pk(entry.attorney),
                "gsi1sk": sk,
                **entry.model_dump(),
            }
        )
        marker = serialize({"pk": f"TIMEENTRY#{entry.entry_id}", "sk": MARKER_SK, "item_sk": sk})
        if self._write_once(marker, item, "billing.post_time_entry"):
            logger.info("time entry already posted", entry_id=entry.entry_id, client_id=entry.client_id)

    def list_time_entries(
        self,
        *,
        client_id: str | None = None,
        attorney: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[TimeEntry]:
        low, high = _time_bounds(since, until)
        operation = "billing.list_time_entries"
        if client_id is not None:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ConsistentRead": True,
            }
            values: dict[str, Any] = {":pk": client_pk(client_id), ":low": low, ":high": high}
            if attorney is not None:
                kwargs["FilterExpression"] = "gsi1pk = :attorney"
                values[":attorney"] = attorney_gsi_pk(attorney)
            items = self._paginate("query", operation, ExpressionAttributeValues=serialize(values), **kwargs)
        elif attorney is not None:
            items = self._paginate(
                "query",
                operation,
                IndexName=ATTORNEY_INDEX,
                KeyConditionExpression="gsi1pk = :attorney AND gsi1sk BETWEEN :low AND :high",
                ExpressionAttributeValues=serialize(
                    {":attorney": attorney_gsi_pk(attorney), ":low": low, ":high": high}
                ),
            )
        else:
            items = self._paginate(
                "scan",
                operation,
                FilterExpression="sk BETWEEN :low AND :high",
                ExpressionAttributeValues=serialize({":low": low, ":high": high}),
                ConsistentRead=True,
            )
        entries = [_to_model(TimeEntry, item) for item in items]
        return sorted(entries, key=lambda e: (e.date, e.entry_id))

    # -- invoices ------------------------------------------------------------------------------
    def issue_invoice(self, invoice: Invoice) -> None:
        item = serialize({"pk": invoice_pk(invoice.invoice_id), "sk": INVOICE_SK, **invoice.model_dump()})
        try:
            self._ddb.put_item(
                TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                logger.info("invoice already issued", invoice_id=invoice.invoice_id)
                return
            raise map_client_error(exc, operation="billing.issue_invoice") from exc
        except BotoCoreError as exc:
            raise map_client_error(exc, operation="billing.issue_invoice") from exc

    def void_invoice(self, invoice_id: str) -> Invoice:
        try:
            response = self._ddb.update_item(
                TableName=self.table_name,
                Key=serialize({"pk": invoice_pk(invoice_id), "sk": INVOICE_SK}),
                UpdateExpression="SET #status = :void",
                ConditionExpression="attribute_exists(pk) AND #status <> :paid",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize({":void": "void", ":paid": "paid"}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise map_client_error(exc, operation="billing.void_invoice") from exc
            if not exc.response.get("Item"):
                raise BusinessRuleError(f"billing.void_invoice: unknown invoice {invoice_id}") from exc
            raise BusinessRuleError(f"billing.void_invoice: invoice {invoice_id} is already paid") from exc
        except BotoCoreError as exc:
            raise map_client_error(exc, operation="billing.void_invoice") from exc
        return _to_model(Invoice, response["Attributes"])

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        with aws_errors("billing.get_invoice"):
            response = self._ddb.get_item(
                TableName=self.table_name,
                Key=serialize({"pk": invoice_pk(invoice_id), "sk": INVOICE_SK}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _to_model(Invoice, item) if item else None

    # -- credits -------------------------------------------------------------------------------
    def grant_credit(self, credit: Credit) -> None:
        sk = credit_sk(credit)
        item = serialize({"pk": client_pk(credit.client_id), "sk": sk, **credit.model_dump()})
        marker = serialize({"pk": f"CREDITID#{credit.credit_id}", "sk": MARKER_SK, "item_sk": sk})
        if self._write_once(marker, item, "billing.grant_credit"):
            logger.info("credit already granted", credit_id=credit.credit_id, client_id=credit.client_id)

    def list_credits(self, client_id: str) -> list[Credit]:
        items = self._paginate(
            "query",
            "billing.list_credits",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=serialize({":pk": client_pk(client_id), ":prefix": "CREDIT#"}),
            ConsistentRead=True,
        )
        return [_to_model(Credit, item) for item in items]

    # -- helpers -------------------------------------------------------------------------------
    def _write_once(self, marker: Item, item: Item, operation: str) -> bool:
        """Write marker + item in one transaction; ``True`` if the marker existed (nothing written)."""
        return write_once(self._ddb, table=self.table_name, marker=marker, item=item, operation=operation)

    def _paginate(self, method: str, operation: str, **kwargs: Any) -> list[Item]:
        with aws_errors(operation):
            pages = self._ddb.get_paginator(method).paginate(TableName=self.table_name, **kwargs)
            return [item for page in pages for item in page.get("Items", [])]
