"""The HTTP API's contract as data: response models, status codes per route, and who may call.

The routes in ``functions/api/app.py`` take their OpenAPI documentation from here (``**ROUTES[...]``
in the decorators), so the handler stays readable and the contract has one home. Every status a
route can answer is listed, with the model of its body: schemathesis (``tests/api/
test_openapi_contract.py``) fails on any status or body the document does not describe.

Response models forbid fields they do not name (``additionalProperties: false``): a field added to
an answer without being documented here is a contract break the tests catch.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from pydantic import BaseModel, ConfigDict, Field

from functions.shared.api_clients import StartedBy
from functions.shared.ledger import RunCost
from functions.shared.timeline import StepRun

# --- who may call: the one place to change when the credential changes -------------------------
START_SCOPE: Final = "stepwise/start"
READ_SCOPE: Final = "stepwise/read"
REDRIVE_SCOPE: Final = "stepwise/redrive"

SECURITY_SCHEMES: Final[dict[str, SecurityScheme]] = {
    "bearer": HTTPBearer(
        bearerFormat="JWT",
        description="An OAuth2 access token of one of the stage's API clients (Cognito client "
        "credentials in the cloud; `python -m local token --client NAME` locally), with the route's "
        "scope. In the cloud the client's `x-api-key` goes with it (its usage-plan quota).",
    )
}


def machine(scope: str) -> list[dict[str, list[str]]]:
    """The security requirement of a machine route that needs ``scope`` (OpenAPI 3.1 lets a bearer
    requirement list the scopes it needs)."""
    return [{"bearer": [scope]}]


# --- bodies -------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(_Strict):
    field: str = Field(description="The field (dotted path), header, or `(body)` that was rejected.")
    message: str


class ValidationErrors(_Strict):
    """400: the request does not fit the contract; one entry per problem."""

    errors: list[FieldError] = Field(min_length=1)


class ErrorMessage(_Strict):
    """Every other error: a sentence for people (never a stack trace, never a token)."""

    message: str


class StartedExecution(_Strict):
    executionId: str = Field(description="`<workflow>-<suffix>`; the suffix hashes the Idempotency-Key.")
    executionArn: str
    statusUrl: str = Field(description="Where to follow the run (also in the `Location` header).")


class RedrivenExecution(_Strict):
    executionId: str
    executionArn: str = Field(description="The same execution: a redrive keeps its ARN and name.")
    redriveDate: str = Field(description="When Step Functions accepted the redrive (ISO 8601).")
    statusUrl: str = Field(description="Where to follow the run (also in the `Location` header).")


class ApprovalView(_Strict):
    """An approval of a run as machine clients see it: people and status, never a link or a token."""

    approval_id: str
    state: str
    approver: str
    status: Literal["PENDING", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED", "SUPERSEDED"]
    created_at: str
    expires_at: str
    decided_by: str | None
    decided_at: str | None
    comment: str | None
    escalated_to: str | None
    edited: bool


ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]


class ExecutionDetail(_Strict):
    executionId: str
    executionArn: str
    workflow: str
    status: ExecutionStatus
    startDate: str | None
    stopDate: str | None
    startedBy: StartedBy | None = Field(
        description="The API client that started the run, and its accountable owner (null: not started "
        "through the API, e.g. from the Step Functions console)."
    )
    input: dict[str, Any] | None
    output: Any = Field(description="The run's result once it succeeded (a JSON value).")
    error: str | None
    cause: str | None
    redriveCount: int = Field(
        default=0, description="How many times the run was redriven (its timeline shows every attempt)."
    )
    timeline: list[StepRun] = Field(description="One row per state entered, oldest first.")
    approvals: list[ApprovalView]
    cost: RunCost | None = Field(description="LLM tokens and USD so far; null if the ledger is unreadable.")


class ExecutionSummary(_Strict):
    executionId: str
    workflow: str
    status: ExecutionStatus
    startDate: str | None
    stopDate: str | None
    businessKey: str | None = Field(default=None, description="Present when the search named one.")


class SearchResult(_Strict):
    executions: list[ExecutionSummary] = Field(description="Most recent first.")


class DecisionResult(_Strict):
    approvalId: str
    status: Literal["APPROVED", "REJECTED"]
    decidedBy: str
    decidedAt: str
    edited: bool


# --- responses per route -------------------------------------------------------------------------
def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


_INVALID = _json(ValidationErrors, "The request does not fit the contract: which fields, and why.")
_TOO_LARGE = _json(ErrorMessage, "The body is over 256 KiB.")
_THROTTLED = _json(ErrorMessage, "API Gateway's throttling or the usage plan's quota (cloud only).")
#: What a machine route answers without a valid credential (API Gateway's own answer, emulated locally).
_MACHINE_DENIED: Final[dict[int, dict[str, Any]]] = {
    401: _json(
        ErrorMessage,
        'No valid access token (`{"message": "Unauthorized"}`), or one without the route\'s scope.',
    ),
    403: _json(
        ErrorMessage,
        'A token the handler refuses (`{"message": "Forbidden"}`): an unknown client, or no scope for it.',
    ),
}

#: Route name → the keyword arguments of its ``@app.<method>(...)`` decorator.
ROUTES: Final[dict[str, dict[str, Any]]] = {
    "start_execution": {
        "operation_id": "start_execution",
        "summary": "Start a run of a workflow",
        "description": "The body is the workflow's input model (one path per workflow in this document). "
        "With an `Idempotency-Key`, a retry with the same body returns the same run.",
        "tags": ["executions"],
        "security": machine(START_SCOPE),
        "responses": {
            202: _json(StartedExecution, "Started (or, with the same Idempotency-Key and body, found)."),
            400: _INVALID,
            **_MACHINE_DENIED,
            404: _json(ErrorMessage, "The workflow is not deployed on this stage."),
            409: _json(ErrorMessage, "The Idempotency-Key was already used with a different body."),
            413: _TOO_LARGE,
            429: _THROTTLED,
        },
    },
    "get_execution": {
        "operation_id": "get_execution",
        "summary": "A run's status, step timeline, approvals and LLM cost",
        "tags": ["executions"],
        "security": machine(READ_SCOPE),
        "responses": {
            200: _json(ExecutionDetail, "The run."),
            **_MACHINE_DENIED,
            404: _json(ErrorMessage, "No such run."),
            429: _THROTTLED,
        },
    },
    "redrive_execution": {
        "operation_id": "redrive_execution",
        "summary": "Redrive a failed, timed-out or aborted run from its unsuccessful step",
        "description": "Step Functions' `RedriveExecution`: the same execution goes on from the state "
        "that did not succeed, with that state's original input; the steps that succeeded are not run "
        "again, and irreversible steps are idempotent on business keys, so nothing is sent twice. "
        "Only runs that stopped less than 14 days ago can be redriven.",
        "tags": ["executions"],
        "security": machine(REDRIVE_SCOPE),
        "responses": {
            202: _json(RedrivenExecution, "Redriven: the run is RUNNING again."),
            **_MACHINE_DENIED,
            404: _json(ErrorMessage, "No such run."),
            409: _json(
                ErrorMessage,
                "Not redrivable (Step Functions' reason): it succeeded, is still running, or stopped "
                "more than 14 days ago.",
            ),
            429: _THROTTLED,
        },
    },
    "search_executions": {
        "operation_id": "search_executions",
        "summary": "Find runs by workflow, status or business key",
        "tags": ["executions"],
        "security": machine(READ_SCOPE),
        "responses": {
            200: _json(SearchResult, "The runs found, most recent first."),
            400: _INVALID,
            **_MACHINE_DENIED,
            404: _json(ErrorMessage, "The workflow filter names no deployed workflow."),
            429: _THROTTLED,
        },
    },
    "approval_page": {
        "operation_id": "approval_page",
        "summary": "The approval page an emailed link opens (no side effect)",
        "description": "Authorized by the link's HMAC signature (`sig`), not by an API key.",
        "tags": ["approvals"],
        "security": [],
        "responses": {
            200: {
                "description": "The page: what approving will do, the draft, approve/reject.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            403: _json(ErrorMessage, "The signature is missing, not valid, or the link has expired."),
            404: _json(ErrorMessage, "No such approval."),
            429: _THROTTLED,
        },
    },
    "decide": {
        "operation_id": "decide",
        "summary": "Approve or reject, once, from the approval page",
        "description": "Authorized by the link's signature (`sig` in the body). JSON only; a browser "
        "request from another site (`Origin`, `Sec-Fetch-Site`) is refused.",
        "tags": ["approvals"],
        "security": [],
        "responses": {
            200: _json(DecisionResult, "Decided: the run goes on."),
            400: _INVALID,
            403: _json(ErrorMessage, "Bad or expired signature, or a cross-site request."),
            404: _json(ErrorMessage, "No such approval."),
            409: _json(ErrorMessage, "Already decided (or the run no longer waits)."),
            413: _TOO_LARGE,
            415: _json(ErrorMessage, "The body is not `application/json`."),
            429: _THROTTLED,
        },
    },
    "openapi_document": {
        "operation_id": "openapi_document",
        "summary": "This document (OpenAPI 3.1)",
        "tags": ["contract"],
        "security": [],
        "responses": {
            200: {
                "description": "The OpenAPI document of this API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            429: _THROTTLED,
        },
    },
}
