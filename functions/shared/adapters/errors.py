"""The one place botocore failures become typed Stepwise errors (shared by every adapter).

Transient (ASL retries with backoff): throttling, 5xx, timeouts, connection failures.
Permanent (no retry): every other refusal (4xx): rejected email, missing key, access denied,
validation. Messages read ``"<operation>: <code>: <AWS message>"`` and never carry request payloads;
the AWS message is truncated because some services echo parameter values in it.
``ConditionalCheckFailedException`` is business logic, handled inside the CRM adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from functions.shared.errors import PermanentIntegrationError, TransientIntegrationError

TRANSIENT_ERROR_CODES: frozenset[str] = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# Reasons inside a DynamoDB TransactionCanceledException that a retry can clear.
TRANSIENT_CANCELLATION_CODES: frozenset[str] = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "TransactionConflict"}
)
_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
    ConnectTimeoutError,
    HTTPClientError,
    BotoConnectionError,
)
_MAX_MESSAGE_CHARS = 200

IntegrationError = TransientIntegrationError | PermanentIntegrationError


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def map_client_error(exc: Exception, *, operation: str) -> IntegrationError:
    """Classify a botocore failure. Use as ``raise map_client_error(exc, operation=...) from exc``."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        message = str(exc.response.get("Error", {}).get("Message", ""))[:_MAX_MESSAGE_CHARS]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = f"{operation}: {code}: {message}"
        if code in TRANSIENT_ERROR_CODES or status >= 500 or _transient_cancellation(exc):
            return TransientIntegrationError(text)
        return PermanentIntegrationError(text)
    if isinstance(exc, _CONNECTION_ERRORS):
        return TransientIntegrationError(
            f"{operation}: {type(exc).__name__}: {str(exc)[:_MAX_MESSAGE_CHARS]}"
        )
    if isinstance(exc, BotoCoreError):
        # Credentials missing, parameter validation...: retrying the same call cannot help.
        return PermanentIntegrationError(
            f"{operation}: {type(exc).__name__}: {str(exc)[:_MAX_MESSAGE_CHARS]}"
        )
    return PermanentIntegrationError(f"{operation}: {type(exc).__name__}")


def _transient_cancellation(exc: ClientError) -> bool:
    if error_code(exc) != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return any(reason.get("Code") in TRANSIENT_CANCELLATION_CODES for reason in reasons)


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """``with aws_errors("crm.get_contact"):`` maps botocore failures raised inside the block."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise map_client_error(exc, operation=operation) from exc
