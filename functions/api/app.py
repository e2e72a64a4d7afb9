"""The HTTP API (design contract), one Powertools resolver for API Gateway and the local server.

Machine routes (start, read, search executions) sit behind an API key that API Gateway (or the
local server, emulating it) checks before the request reaches this code. Approval routes are
opened from email links: their authorization is the HMAC signature, checked here. Errors map to
status codes in one place (the exception handlers at the bottom).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from functions.api.approval_page import render
from functions.api.executions import MAX_SEARCH, STATUSES, ExecutionService, IdempotencyConflict, NotFound
from functions.shared.adapters import get_files
from functions.shared.approvals import ApprovalError, ApprovalService, ApprovalStore, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.models import SingleLine
from functions.shared.observability import logger
from functions.shared.workflow_input import InputRejected, field_errors

app = APIGatewayRestResolver()

IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class Edits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[SingleLine, StringConstraints(max_length=120)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=3000)] | None = None


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None
    edits: Edits | None = None
    sig: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class BadRequest(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def _executions() -> ExecutionService:
    config = settings()
    return ExecutionService(
        client("stepfunctions"), config.state_machines, ApprovalStore(config.approvals_table)
    )


def _body() -> Any:
    raw = app.current_event.body
    if not raw:
        raise BadRequest([{"field": "(body)", "message": "a JSON object is required"}])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest([{"field": "(body)", "message": f"invalid JSON: {exc}"}]) from exc


# --- machine routes (API key) -------------------------------------------------------------------
@app.post("/workflows/<workflow>/executions")
def start_execution(workflow: str) -> Response[str]:
    key = app.current_event.headers.get("idempotency-key") or app.current_event.headers.get("Idempotency-Key")
    if key is not None:
        try:
            key = _IdempotencyKeyModel(key=key).key
        except ValidationError as exc:
            raise BadRequest([{"field": "Idempotency-Key", "message": exc.errors()[0]["msg"]}]) from exc
    payload = _body()
    if not isinstance(payload, dict):
        raise BadRequest([{"field": "(body)", "message": "must be a JSON object"}])
    started = _executions().start(workflow, payload, key)
    logger.info(
        "execution started", workflow=workflow, execution=started.executionId, new_execution=started.created
    )
    return _json(202, started.model_dump(exclude={"created"}), {"Location": started.statusUrl})


class _IdempotencyKeyModel(BaseModel):
    key: IdempotencyKey


@app.get("/executions/<execution_id>")
def get_execution(execution_id: str) -> Response[str]:
    return _json(200, _executions().get(execution_id))


@app.get("/executions")
def search_executions() -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest([{"field": "status", "message": f"must be one of {sorted(STATUSES)}"}])
    try:
        limit = int(query.get("limit", "25"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_SEARCH:
        raise BadRequest([{"field": "limit", "message": f"must be an integer from 1 to {MAX_SEARCH}"}])
    found = _executions().search(
        workflow=query.get("workflow"), status=status, business_key=query.get("businessKey"), limit=limit
    )
    return _json(200, {"executions": found})


# --- approval routes (authorized by the link signature) -----------------------------------------
@app.get("/approvals/<approval_id>")
def approval_page(approval_id: str) -> Response[str]:
    signature = (app.current_event.query_string_parameters or {}).get("sig", "")
    record, approver = ApprovalService(settings()).authenticate(approval_id, signature)
    page, headers = render(
        record, approver=approver, body=get_files().get_text(record.draft.body_key), signature=signature
    )
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page, headers=headers)


@app.post("/approvals/<approval_id>/decision")
def decide(approval_id: str) -> Response[str]:
    try:
        request = DecisionRequest.model_validate(_body())
    except ValidationError as exc:
        raise BadRequest(field_errors(exc)) from exc
    if request.decision == "reject" and request.edits is not None:
        raise BadRequest([{"field": "edits", "message": "edits go with approve"}])
    edits = request.edits or Edits()
    record = ApprovalService(settings()).decide(
        approval_id,
        request.sig,
        Decision(
            decision=request.decision,
            comment=request.comment,
            edited_subject=edits.subject,
            edited_body=edits.body,
        ),
        get_files(),
    )
    logger.info(
        "approval decided", approval_id=approval_id, status=record.status, decided_by=record.decided_by
    )
    return _json(
        200,
        {
            "approvalId": record.approval_id,
            "status": record.status,
            "decidedBy": record.decided_by,
            "decidedAt": record.decided_at,
            "edited": record.edit_diff is not None,
        },
    )


# --- errors → status codes, in one place --------------------------------------------------------
@app.exception_handler(BadRequest)
def _bad_request(exc: BadRequest) -> Response[str]:
    return _json(400, {"errors": exc.errors})


@app.exception_handler(InputRejected)
def _invalid_input(exc: InputRejected) -> Response[str]:
    return _json(400, {"errors": exc.errors})


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response[str]:
    return _json(404, {"message": str(exc)})


@app.exception_handler(IdempotencyConflict)
def _conflict(exc: IdempotencyConflict) -> Response[str]:
    return _json(409, {"message": str(exc)})


@app.exception_handler(ApprovalError)
def _approval_error(exc: ApprovalError) -> Response[str]:
    return _json(exc.http_status, {"message": str(exc)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
