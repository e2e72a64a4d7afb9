"""The HTTP API (design contract), one Powertools resolver for API Gateway and the local server.

Machine routes (start, read, search executions) sit behind API Gateway's Cognito authorizer (or
the local server, emulating it), which checks the access token and the route's scope before the
request reaches this code; the handler reads the caller from the claims it passes, checks the
scope again (defence in depth: a method deployed without its authorizer still refuses) and
records who started a run (``startedBy``). Approval routes are opened from email links: their
authorization is the HMAC signature, checked here. Errors map to status codes in one place (the
exception handlers at the bottom).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from functions.api.approval_page import render
from functions.api.contract import ROUTES
from functions.api.executions import (
    MAX_SEARCH,
    STATUSES,
    ExecutionService,
    IdempotencyConflict,
    NotFound,
    NotRedrivable,
)
from functions.shared.adapters import get_files
from functions.shared.api_clients import (
    READ_SCOPE,
    REDRIVE_SCOPE,
    START_SCOPE,
    StartedBy,
    UnknownClient,
    has_scope,
    started_by,
)
from functions.shared.approvals import ApprovalError, ApprovalService, ApprovalStore, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.models import SingleLine
from functions.shared.observability import logger
from functions.shared.workflow_input import InputRejected, field_errors

app = APIGatewayRestResolver()

#: Bodies are small JSON documents: a start request or a decision. The local server refuses more
#: than this before the handler; API Gateway lets up to 10 MB through, so the handler checks too.
MAX_BODY_CHARS = 256 * 1024
#: Deeper JSON is refused before it is parsed (a 10,000-deep array is a RecursionError otherwise).
MAX_JSON_DEPTH = 32

MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY, pattern=IDEMPOTENCY_KEY_PATTERN)
]


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


class TooLarge(Exception):
    """A body over ``MAX_BODY_CHARS``: 413."""


class UnsupportedMediaType(Exception):
    """The decision takes JSON only: 415."""


class CrossSite(Exception):
    """A state-changing request a browser sent from another site: 403."""


class Unauthorized(Exception):
    """No authorizer claims reached the handler: 401, API Gateway's own body."""


class Forbidden(Exception):
    """Claims without the route's scope, or of a client this stage does not list: 403."""


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


#: A string (to its closing quote, or to the end when unterminated: one pass, no backtracking), or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"?|[\[\]{}]')


def _json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text`` (brackets inside strings not counted)."""
    depth = deepest = 0
    for token in _JSON_TOKEN.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _body() -> Any:
    raw = app.current_event.body
    if not raw:
        raise BadRequest([{"field": "(body)", "message": "a JSON object is required"}])
    if len(raw) > MAX_BODY_CHARS:
        raise TooLarge(f"the body is over {MAX_BODY_CHARS} characters")
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest([{"field": "(body)", "message": f"nested deeper than {MAX_JSON_DEPTH} levels"}])
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest([{"field": "(body)", "message": f"invalid JSON: {exc}"}]) from exc


def _require_json() -> None:
    """A form or ``text/plain`` POST is what another site can send without asking (no CORS
    preflight); a body the decision route reads must be ``application/json``."""
    content_type = app.current_event.headers.get("content-type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("the body must be application/json")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_origin(origin: str, host: str) -> bool:
    """Whether a browser's ``Origin`` names the host (and port) the request was sent to."""
    parts = urlsplit(origin)
    try:
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        host_parts = urlsplit(f"{parts.scheme}://{host}")
        host_port = host_parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    return bool(parts.hostname) and (parts.hostname, origin_port) == (host_parts.hostname, host_port)


def _refuse_cross_site() -> None:
    """A browser names where a request comes from (``Sec-Fetch-Site``, ``Origin``): a decision
    posted from another site is refused. Clients that send neither (curl, tests) are not browsers
    riding a person's session, and the link signature still authorizes them."""
    headers = app.current_event.headers
    if (headers.get("sec-fetch-site") or "").strip().lower() == "cross-site":
        raise CrossSite("cross-site requests cannot decide")
    origin = headers.get("origin")
    if origin is not None and not _same_origin(origin.strip(), (headers.get("host") or "").strip()):
        raise CrossSite("cross-origin requests cannot decide")


def _caller(scope: str) -> StartedBy:
    """The client calling a machine route, from ``requestContext.authorizer.claims``."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.claims if authorizer is not None else None
    if not claims:
        raise Unauthorized("Unauthorized")
    if not has_scope(claims, scope):
        raise Forbidden("Forbidden")
    try:
        return started_by(claims, settings())
    except UnknownClient as exc:
        logger.warning("unknown API client", error=str(exc))
        raise Forbidden("Forbidden") from exc


# --- machine routes (access token with a scope) ---------------------------------------------------
@app.post("/workflows/<workflow>/executions", **ROUTES["start_execution"])
def start_execution(workflow: str) -> Response[str]:
    caller = _caller(START_SCOPE)
    key = app.current_event.headers.get("idempotency-key") or app.current_event.headers.get("Idempotency-Key")
    if key is not None:
        try:
            key = _IdempotencyKeyModel(key=key).key
        except ValidationError as exc:
            raise BadRequest([{"field": "Idempotency-Key", "message": exc.errors()[0]["msg"]}]) from exc
    payload = _body()
    if not isinstance(payload, dict):
        raise BadRequest([{"field": "(body)", "message": "must be a JSON object"}])
    started = _executions().start(workflow, payload, key, caller)
    logger.info(
        "execution started",
        workflow=workflow,
        execution=started.executionId,
        new_execution=started.created,
        client=caller.client,
    )
    return _json(202, started.model_dump(exclude={"created"}), {"Location": started.statusUrl})


class _IdempotencyKeyModel(BaseModel):
    key: IdempotencyKey


@app.get("/executions/<execution_id>", **ROUTES["get_execution"])
def get_execution(execution_id: str) -> Response[str]:
    _caller(READ_SCOPE)
    return _json(200, _executions().get(execution_id))


@app.post("/executions/<execution_id>/redrive", **ROUTES["redrive_execution"])
def redrive_execution(execution_id: str) -> Response[str]:
    caller = _caller(REDRIVE_SCOPE)
    redriven = _executions().redrive(execution_id)
    logger.info("execution redriven", execution=execution_id, client=caller.client, owner=caller.owner)
    return _json(202, redriven.model_dump(), {"Location": redriven.statusUrl})


@app.get("/executions", **ROUTES["search_executions"])
def search_executions() -> Response[str]:
    _caller(READ_SCOPE)
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
@app.get("/approvals/<approval_id>", **ROUTES["approval_page"])
def approval_page(approval_id: str) -> Response[str]:
    signature = (app.current_event.query_string_parameters or {}).get("sig", "")
    record, approver = ApprovalService(settings()).authenticate(approval_id, signature)
    page, headers = render(
        record, approver=approver, body=get_files().get_text(record.draft.body_key), signature=signature
    )
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page, headers=headers)


@app.post("/approvals/<approval_id>/decision", **ROUTES["decide"])
def decide(approval_id: str) -> Response[str]:
    _refuse_cross_site()
    _require_json()
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


# --- the contract (public: it holds no data) ------------------------------------------------------
@app.get("/openapi.json", **ROUTES["openapi_document"])
def openapi_document() -> Response[str]:
    from functions.api.openapi import document_json

    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=document_json(),
        headers={"Cache-Control": "public, max-age=300"},
    )


# --- errors → status codes, in one place --------------------------------------------------------
@app.exception_handler(BadRequest)
def _bad_request(exc: BadRequest) -> Response[str]:
    return _json(400, {"errors": exc.errors})


#: Errors whose message is the whole answer, with their status.
_MESSAGE_STATUS: dict[type[Exception], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    CrossSite: 403,
    NotFound: 404,
    IdempotencyConflict: 409,
    NotRedrivable: 409,
}


@app.exception_handler(list(_MESSAGE_STATUS))
def _message_error(exc: Exception) -> Response[str]:
    status = next(code for kind, code in _MESSAGE_STATUS.items() if isinstance(exc, kind))
    return _json(status, {"message": str(exc)})


@app.exception_handler(InputRejected)
def _invalid_input(exc: InputRejected) -> Response[str]:
    return _json(400, {"errors": exc.errors})


@app.exception_handler(ApprovalError)
def _approval_error(exc: ApprovalError) -> Response[str]:
    return _json(exc.http_status, {"message": str(exc)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
