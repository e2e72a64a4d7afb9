"""``python -m local serve``: the HTTP API of API Gateway, locally, on top of the moto runtime.

Each request becomes an API Gateway REST proxy event for the same handler the cloud runs
(``functions.api.app.handler``). What API Gateway does before the handler is emulated here: the
Cognito authorizer on machine routes (``local/auth.py``: a real JWT check of tokens from a local
issuer; 401 ``{"message":"Unauthorized"}`` as API Gateway answers), with the verified claims passed
to the handler in ``requestContext.authorizer.claims``. Which methods need which scope comes from
the synthesized template as deployed (``--as-deployed``), else from the table CDK builds the API
from (``functions/shared/api_clients.py``). API keys are quota handles in the cloud (usage plan);
quotas are not emulated, so no key is checked here.
Local-only extras: ``GET /local/outbox`` (what SES "sent", so a person can follow approval links),
the web console at ``/`` with the ``/local/`` data it reads (``local/console/``), and a sweeper
thread that runs the approval SLA ladder like the EventBridge schedule does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from functions.shared.api_clients import READ_SCOPE, local_directory
from local.auth import (
    LOCAL_POOL_ID,
    UNAUTHORIZED,
    CognitoAuthorizer,
    LocalClient,
    LocalIssuer,
    MethodAuth,
    clients_from_directory,
    in_process_methods,
    match_resource,
)
from local.console import views
from local.console.assets import ASSETS, asset, host_is_loopback, is_loopback
from local.dispatch import LocalLambdaContext
from local.runtime import LocalRuntime

#: The local-only data routes (outbox, console data) need a read token, as the executions do.
LOCAL_ROUTES_AUTH = MethodAuth("COGNITO_USER_POOLS", (READ_SCOPE,))
#: The console page's token lasts a working day (local only; Cognito allows up to one day).
CONSOLE_TOKEN_TTL_SECONDS = 8 * 3600
CONSOLE_CLIENT = "console"
MAX_BODY = 256 * 1024
#: A too-large body up to this size is read and dropped so the connection stays usable; beyond it,
#: the connection is closed instead (reading megabytes only to throw them away helps nobody).
MAX_DRAIN = 4 * MAX_BODY
#: The listen backlog: ThreadingHTTPServer's 5 drops connections (a SYN retried a second later)
#: as soon as a burst of clients arrives faster than the accept loop.
LISTEN_BACKLOG = 128
_EXECUTION_COST = re.compile(r"^/local/executions/(?P<execution>[^/]+)/cost$")
_AUDIT = re.compile(r"^/local/audit/(?P<execution>[^/]+)/(?P<step>[^/]+)$")

Answer = tuple[int, dict[str, str], bytes]


def proxy_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: str | None,
    source_ip: str,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the Lambda integration delivers it (with the
    Cognito authorizer's ``claims`` when the method has one)."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    request_context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "local",
        "httpMethod": method,
        "path": parts.path,
        "resourcePath": parts.path,
        "requestTimeEpoch": int(time.time() * 1000),
        "identity": {"sourceIp": source_ip},
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": claims}
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": False,
    }


def outbox_view(runtime: LocalRuntime) -> list[dict[str, Any]]:
    return [
        {"to": e["to"], "subject": e["subject"], "body": e["body"], "sentAt": e["sentAt"]}
        for e in runtime.outbox()
    ]


def _json(status: int, body: Any) -> Answer:
    return (
        status,
        {"Content-Type": "application/json", "Cache-Control": "no-store"},
        json.dumps(body).encode(),
    )


def local_route(runtime: LocalRuntime, method: str, raw_path: str) -> Answer:
    """The local-only routes (behind a read token): outbox, and what the console reads."""
    parts = urlsplit(raw_path)
    path, query = parts.path, parse_qs(parts.query)
    if method != "GET":
        return _json(405, {"message": "Method not allowed"})
    body: Any = None
    try:
        if path == "/local/outbox":
            body = outbox_view(runtime)
        elif path == "/local/workflows":
            body = {"workflows": views.workflow_catalog()}
        elif path == "/local/approvals":
            body = {"approvals": views.pending_approvals(query.get("execution", [None])[-1])}
        elif found := _EXECUTION_COST.match(path):
            body = views.audit_cost(found["execution"])
        elif found := _AUDIT.match(path):
            body = {"records": views.audit_records(found["execution"], found["step"])}
    except views.ConsoleNotFound as exc:
        return _json(404, {"message": str(exc)})
    return _json(200, body) if body is not None else _json(404, {"message": f"no local route {path}"})


def _context(name: str, memory_mb: int, timeout_s: int) -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=name,
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        timeout_seconds=timeout_s,
    )


class _ThreadingServer(ThreadingHTTPServer):
    """One thread per connection, as before, with a backlog that holds a burst of clients."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def _content_length(values: list[str]) -> int | None:
    """The body's length from the ``Content-Length`` header(s): digits only (no sign, no spaces
    inside), one value; ``None`` when it cannot be trusted (the request is then refused and the
    connection closed: where this request's body ends, and so where the next request starts, is
    unknown)."""
    if not values:
        return 0
    distinct = {value.strip() for value in values}
    if len(distinct) != 1:
        return None
    (value,) = distinct
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def pool_of(runtime: LocalRuntime) -> tuple[str, dict[str, LocalClient], dict[tuple[str, str], MethodAuth]]:
    """The user pool, its clients and the API's methods: the template's as deployed, else the
    in-process pool (client id = name) and the table CDK builds the API from."""
    if not runtime.as_deployed:
        return LOCAL_POOL_ID, clients_from_directory(local_directory()), in_process_methods()
    assembly = runtime.deployment.assembly
    methods = {
        (m.http_method, m.resource_path): MethodAuth(m.authorization_type, m.scopes)
        for m in assembly.api_methods
    }
    pools = {pool for m in assembly.api_methods for pool in m.user_pool_ids}
    if len(pools) != 1:
        raise RuntimeError(f"the API's authorizers name {len(pools)} user pools; this server plays one")
    (pool_id,) = pools
    clients = {
        c.name: LocalClient(c.name, c.client_id, c.scopes)
        for c in assembly.pool_clients
        if c.pool_id == pool_id
    }
    return pool_id, clients, methods


class LocalApiServer:
    """Serve the API in threads; ``start()`` returns at once, ``stop()`` shuts down.

    ``issuer_dir``: keep the issuer's signing key there (``python -m local token`` mints from it);
    ``None`` (tests): a key in memory, tokens from ``server.issuer`` (or share ``issuer``).
    """

    def __init__(
        self,
        runtime: LocalRuntime,
        *,
        issuer_dir: Path | None = None,
        issuer: LocalIssuer | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        sweep_every_s: float = 60,
    ) -> None:
        from functions.registry import API_HANDLER, SWEEPER_HANDLER
        from functions.shared.config import settings

        self.runtime = runtime
        pool_id, clients, self.methods = pool_of(runtime)
        if issuer is not None:
            self.issuer = issuer
        elif issuer_dir is not None:
            self.issuer = LocalIssuer.persisted(clients, pool_id, issuer_dir)
            self.issuer.record(issuer_dir)
        else:
            self.issuer = LocalIssuer.in_memory(clients, pool_id)
        self.authorizer = CognitoAuthorizer.of(self.issuer)
        # After the runtime set the environment up: in-process, or the deployed function's own.
        self._handler = runtime.function_handler(API_HANDLER)
        self._sweeper = runtime.function_handler(SWEEPER_HANDLER)
        #: As deployed, links carry API Gateway's stage (``https://<api>/dev/approvals/...``);
        #: a request on loopback may name it too, and the handler sees the path without it.
        self._stage_prefix = (
            urlsplit(settings().approval_link_base_url).path.rstrip("/") if runtime.as_deployed else ""
        )
        #: As deployed: the link base the functions use (API Gateway's stage URL, with its slash).
        self._public_base = settings().approval_link_base_url.rstrip("/") + "/" if runtime.as_deployed else ""
        self._sweep_every_s = sweep_every_s
        self._stopped = threading.Event()
        self.httpd = _ThreadingServer((host, port), self._request_handler())
        self._threads: list[threading.Thread] = []
        #: The console page gets a token only from a loopback-bound server (local/console/assets.py).
        self.console_gets_key = is_loopback(str(self.httpd.server_address[0]))

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApiServer:
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, name="stepwise-api", daemon=True),
            threading.Thread(target=self._sweep_loop, name="stepwise-sweeper", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _sweep_loop(self) -> None:
        while not self._stopped.wait(self._sweep_every_s):
            self.sweep()

    def sweep(self) -> Any:
        """One run of the SLA sweeper, as the EventBridge schedule triggers it."""
        event = {
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "time": datetime.now(UTC).isoformat(),
        }
        return self._sweeper(event, _context("stepwise-sweeper", 256, 300))

    def public_path(self, url: str) -> str:
        """The path and query of an emailed link, as this server serves it (API Gateway's host and
        stage stand for this server)."""
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def respond(
        self, method: str, raw_path: str, headers: dict[str, str], body: str | None, ip: str
    ) -> Answer:
        if self._stage_prefix and (raw_path + "/").startswith(self._stage_prefix + "/"):
            raw_path = raw_path[len(self._stage_prefix) :] or "/"
        path = urlsplit(raw_path).path
        lowered = {k.lower(): v for k, v in headers.items()}
        if method == "GET" and path in ASSETS:
            trusted = self.console_gets_key and host_is_loopback(lowered.get("host", ""))
            return asset(path, token=self._console_token() if trusted else None)
        auth = LOCAL_ROUTES_AUTH if path.startswith("/local/") else match_resource(self.methods, method, path)
        claims = None
        if auth is not None and auth.authorization_type == "COGNITO_USER_POOLS":
            claims = self.authorizer.claims(lowered.get("authorization"), auth.scopes)
            if claims is None:
                return UNAUTHORIZED
        elif auth is not None and auth.authorization_type != "NONE":
            raise RuntimeError(f"{method} {path}: authorization {auth.authorization_type} is not emulated")
        if path.startswith("/local/"):
            try:
                status, answer_headers, answer = local_route(self.runtime, method, raw_path)
                if self._public_base and path == "/local/outbox":
                    # API Gateway's URL in the emailed links is this server, locally.
                    answer = answer.replace(self._public_base.encode(), (self.url + "/").encode())
                return status, answer_headers, answer
            except Exception:
                logging.getLogger(__name__).exception("local route failed")
                return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        event = proxy_event(method, raw_path, headers, body, ip, claims)
        context = _context("stepwise-api", 512, 29)
        try:
            result = self._handler(event, context)
        except Exception:
            # What API Gateway answers when the Lambda itself fails (the traceback goes to the log).
            logging.getLogger(__name__).exception("API handler failed")
            return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        response_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[key] = ", ".join(values)
        return int(result["statusCode"]), response_headers, (result.get("body") or "").encode()

    def _console_token(self) -> str | None:
        if CONSOLE_CLIENT not in self.issuer.clients:
            return None
        return self.issuer.mint(CONSOLE_CLIENT, ttl_seconds=CONSOLE_TOKEN_TTL_SECONDS)

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            #: A silent client (a body that never comes, an idle keep-alive) frees its thread after this.
            timeout = 30

            def _handle(self) -> None:
                if self.headers.get("Transfer-Encoding") is not None:
                    # API Gateway's proxy event has a body, not chunks; where chunks end is not parsed here.
                    self._refuse(411, "Content-Length is required (no Transfer-Encoding)")
                    return
                lengths = self.headers.get_all("Content-Length") or []
                if not lengths and self.command == "POST":
                    # Without it a body would be read as the next request (RFC 9112 6.3: no length, no body).
                    self._refuse(411, "Content-Length is required")
                    return
                length = _content_length(lengths)
                if length is None:
                    self._refuse(400, "Content-Length must be one non-negative integer")
                    return
                if length > MAX_BODY:
                    self._too_large(length)
                    return
                body = self.rfile.read(length).decode("utf-8", errors="replace") if length else None
                method = "GET" if self.command == "HEAD" else self.command
                status, headers, payload = server.respond(
                    method, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
                self._send(status, headers, payload)

            def _too_large(self, length: int) -> None:
                """413, leaving the connection where the next request starts: the body is read and
                dropped when it is small enough, else the connection is closed."""
                if length > MAX_DRAIN:
                    self._refuse(413, "Request too large")
                    return
                while length > 0:
                    chunk = self.rfile.read(min(length, 64 * 1024))
                    if not chunk:
                        self.close_connection = True
                        break
                    length -= len(chunk)
                self._send(413, {"Content-Type": "application/json"}, b'{"message": "Request too large"}')

            def _refuse(self, status: int, message: str) -> None:
                """An error answer after which the connection is closed (its unread bytes are no request)."""
                self.close_connection = True
                self._send(
                    status,
                    {"Content-Type": "application/json", "Connection": "close"},
                    json.dumps({"message": message}).encode(),
                )

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """The stdlib's own errors (a malformed request line, headers too long, an unknown
                method, HTTP/2) as JSON ``{"message": ...}``, as API Gateway answers, not its HTML page;
                the phrase is the status's, so nothing of the request is echoed. The connection closes."""
                phrase = self.responses.get(code, ("Error", ""))[0]
                self.close_connection = True
                if self.request_version == "HTTP/0.9":  # no version parsed: still send a status line
                    self.request_version = "HTTP/1.1"
                payload = json.dumps({"message": phrase}).encode()
                self.send_response(code, phrase)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD" and code >= HTTPStatus.OK and code not in (204, 304):
                    self.wfile.write(payload)

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                # Never print request lines: the approval page's URL carries its signature.
                return

        return Handler
