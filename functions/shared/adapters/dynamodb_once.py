"""Write an item at most once: an idempotency marker and the item in one transaction.

A retried step (Lambda runs tasks at least once) writes the same marker again; the conditional
put on the marker cancels the transaction, which is reported as "already written", not an error.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared.adapters.dynamodb_items import Item
from functions.shared.adapters.errors import error_code, map_client_error


def first_condition_failed(exc: ClientError) -> bool:
    """The transaction was cancelled by the condition on its first item (here: the marker is
    already there), not by contention or throttling."""
    if error_code(exc) != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"


def write_once(ddb: Any, *, table: str, marker: Item, item: Item, operation: str) -> bool:
    """Write ``marker`` + ``item``; ``True`` if the marker existed (nothing was written)."""
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": marker,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": table, "Item": item}},
            ]
        )
    except ClientError as exc:
        if first_condition_failed(exc):
            return True
        raise map_client_error(exc, operation=operation) from exc
    except BotoCoreError as exc:
        raise map_client_error(exc, operation=operation) from exc
    return False
