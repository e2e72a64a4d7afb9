"""A status that moves only from what the caller saw: one conditional update for every adapter.

The CRM contact and the calendar event both keep a ``status`` that compensations and retries
change with ``expected=...``; one ``update_item`` with ``ReturnValuesOnConditionCheckFailure``
tells an unknown item apart from a stale expectation without a second read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared.adapters.dynamodb_items import deserialize, serialize
from functions.shared.adapters.errors import error_code, map_client_error


def transition_status(
    ddb: Any,
    *,
    table: str,
    key: dict[str, Any],
    operation: str,
    update: str,
    names: dict[str, str],
    values: dict[str, Any],
    expected: str | None,
    unknown: Callable[[], Exception],
    conflict: Callable[[str], Exception],
    default: str,
) -> str:
    """Apply ``update`` (which sets ``#status``) and return the previous status."""
    condition = "attribute_exists(pk)"
    if expected is not None:
        condition += " AND #status = :expected"
        values = {**values, ":expected": expected}
    try:
        response = ddb.update_item(
            TableName=table,
            Key=serialize(key),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
            ReturnValues="UPDATED_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise map_client_error(exc, operation=operation) from exc
        current = exc.response.get("Item")
        if not current:
            raise unknown() from exc
        raise conflict(str(deserialize(current).get("status", default))) from exc
    except BotoCoreError as exc:
        raise map_client_error(exc, operation=operation) from exc
    return str(deserialize(response.get("Attributes", {})).get("status", default))
