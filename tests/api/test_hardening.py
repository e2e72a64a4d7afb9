"""HTTP hardening (issue #19): what a hostile or broken client sends, over a real local server.

The server half (HEAD, Content-Length, 413 on a keep-alive connection, the listen backlog) talks raw
HTTP over sockets, since ``http.client`` would quietly reconnect or refuse to send such requests.
The handler half (the decision takes JSON from this site only; no body too deep or too large ends
in a 5xx) runs the same code API Gateway would.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from functions.shared.approvals import ApprovalRecord
from local.server import MAX_BODY, MAX_DRAIN, LocalApiServer
from tests.api.conftest import Api

START = "/workflows/sales_outreach/executions"
DEEP = "[" * 10_000 + "]" * 10_000


# --- raw HTTP --------------------------------------------------------------------------------------
def _connect(api: Api, timeout_s: float = 10) -> socket.socket:
    host, port = api.server.httpd.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=timeout_s)


def _request(
    api: Api, path: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in api.credentials().items()]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawReply:
    """One HTTP/1.1 response read off a socket, leaving the bytes after it for the next one."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def closed(self) -> bool:
        """Whether the server closed the connection (nothing more will come)."""
        return not self.buffer and not self._fill()

    def reply(self, *, head: bool = False) -> RawReply:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise AssertionError(f"connection closed before a response: {self.buffer!r}")
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._fill():
                raise AssertionError("connection closed inside a response body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawReply(int(status_line.split()[1]), headers, body)


def test_head_is_answered_like_get_without_a_body(api: Api) -> None:
    # Given the answer to a GET of a machine route
    path = "/executions?limit=5"
    with _connect(api) as sock:
        reader = Reader(sock)
        sock.sendall(_request(api, path))
        got = reader.reply()

        # When a client asks for the same with HEAD, then GET again on the same connection
        sock.sendall(_request(api, path, method="HEAD") + _request(api, path))
        head = reader.reply(head=True)
        again = reader.reply()

    # Then HEAD has GET's status and headers (its Content-Length too) and no body: the next
    # response on the connection starts right where HEAD's headers end
    assert got.status == 200, got.body
    assert head.status == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]
    assert again.status == 200
    assert again.json() == got.json()


@pytest.mark.parametrize("length", ["-1", "abc", "1 2", "+5"])
def test_a_content_length_that_is_not_a_size_is_refused_and_the_connection_closed(
    api: Api, length: str
) -> None:
    # Given a client that sends a Content-Length that is no byte count
    with _connect(api, timeout_s=5) as sock:
        reader = Reader(sock)

        # When it starts a run with it (a silent server would hang this test at the socket timeout)
        sock.sendall(_request(api, START, method="POST", headers={"Content-Length": length}) + b"{}")
        reply = reader.reply()

        # Then the answer is 400 with a JSON message, and the connection is closed: where the body
        # ends, and the next request starts, cannot be known
        assert reply.status == 400
        assert "message" in reply.json()
        assert reply.headers["connection"] == "close"
        assert reader.closed()


def test_a_413_leaves_the_connection_ready_for_the_next_request(api: Api) -> None:
    # Given a keep-alive connection
    with _connect(api) as sock:
        reader = Reader(sock)

        # When a client sends a body over the limit, then another request on the same connection
        sock.sendall(
            _request(api, START, method="POST", headers={"Content-Length": str(MAX_BODY + 1)})
            + b"x" * (MAX_BODY + 1)
        )
        too_large = reader.reply()
        sock.sendall(_request(api, "/executions?limit=0"))
        next_reply = reader.reply()

    # Then the first is 413, and the second is answered as itself (the unread body was not taken
    # for a request): the handler's 400 on its limit
    assert too_large.status == 413
    assert too_large.json() == {"message": "Request too large"}
    assert next_reply.status == 400
    assert next_reply.json()["errors"][0]["field"] == "limit"


def _refused_and_closed(reader: Reader, status: int) -> RawReply:
    """The server's own error: JSON with its content type, then the connection closed."""
    reply = reader.reply()
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.json()) == {"message"}
    assert reply.headers["connection"] == "close"
    assert reader.closed()
    return reply


def test_a_post_without_content_length_is_411_and_its_body_is_never_read_as_a_request(api: Api) -> None:
    # Given a client that sends a body without saying how long it is (HTTP/1.1: then there is none)
    with _connect(api, timeout_s=5) as sock:
        reader = Reader(sock)

        # When it starts a run that way
        sock.sendall(
            _request(api, START, method="POST", headers={"Content-Type": "application/json"}) + b"{}"
        )

        # Then it is told the length is required, and the connection closes: its "{}" is not parsed
        # as a second request (which the stdlib would answer with an HTML 400)
        reply = _refused_and_closed(reader, 411)
    assert reply.json() == {"message": "Content-Length is required"}


def test_a_chunked_body_is_refused_with_411_not_parsed(api: Api) -> None:
    # Given a client that streams its body in chunks (API Gateway's proxy event carries a whole body)
    with _connect(api, timeout_s=5) as sock:
        reader = Reader(sock)

        # When it starts a run with Transfer-Encoding: chunked
        sock.sendall(
            _request(api, START, method="POST", headers={"Transfer-Encoding": "chunked"})
            + b"2\r\n{}\r\n0\r\n\r\n"
        )

        # Then it is refused (411, JSON) and the connection closes without a second answer
        reply = _refused_and_closed(reader, 411)
    assert "Content-Length is required" in reply.json()["message"]


def test_a_body_far_over_the_limit_is_413_at_once_without_reading_it(api: Api) -> None:
    # Given a client announcing a body past what the server would read and drop (1 MiB)
    with _connect(api, timeout_s=5) as sock:
        reader = Reader(sock)

        # When it has sent only the headers and a few bytes of that body
        sock.sendall(
            _request(api, START, method="POST", headers={"Content-Length": str(MAX_DRAIN + 1)}) + b"[1,"
        )

        # Then the 413 comes before the rest of the body (a server reading it all would wait here
        # until the socket timeout), and the connection is closed
        reply = _refused_and_closed(reader, 413)
    assert reply.json() == {"message": "Request too large"}


HEADER_FLOOD = "".join(f"X-Filler-{i}: x\r\n" for i in range(101))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /executions HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505),
        (b"PUT /executions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", 501),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (f"GET / HTTP/1.1\r\n{HEADER_FLOOD}\r\n".encode(), 431),
    ],
    ids=[
        "bad-request-line",
        "http2",
        "unknown-method",
        "uri-too-long",
        "header-too-long",
        "too-many-headers",
    ],
)
def test_errors_the_server_makes_itself_are_json_like_api_gateway_not_html(
    api: Api, raw: bytes, status: int
) -> None:
    # Given requests the stdlib request parser refuses before any route is looked at
    with _connect(api, timeout_s=5) as sock:
        reader = Reader(sock)

        # When one is sent
        sock.sendall(raw)

        # Then the answer is a JSON message with the status's phrase (the request is not echoed),
        # never the stdlib's HTML error page
        reply = _refused_and_closed(reader, status)
    assert b"<" not in reply.body
    assert reply.json()["message"]


def test_fifty_clients_arriving_at_once_are_all_answered(api: Api) -> None:
    # Given a server that has not accepted anything yet (its accept loop not running), as when a
    # burst of clients arrives faster than it accepts
    server = LocalApiServer(
        api.runtime, issuer=api.server.issuer, host="127.0.0.1", port=0, sweep_every_s=3600
    )
    host, port = server.httpd.server_address[:2]
    sockets: list[socket.socket] = []
    started = False
    try:
        # When 50 clients connect and send a request (a connect the backlog cannot hold times out)
        for _ in range(50):
            sock = socket.create_connection((str(host), int(port)), timeout=2)
            sockets.append(sock)
            sock.sendall(_request(api, "/executions?limit=0"))
        server.start()
        started = True

        # Then every one of them is answered
        for sock in sockets:
            sock.settimeout(30)
            reply = Reader(sock).reply()
            assert reply.status == 400
            assert reply.json()["errors"][0]["field"] == "limit"
    finally:
        for sock in sockets:
            sock.close()
        if started:
            server.stop()
        else:  # stop() waits for an accept loop that never ran
            server.httpd.server_close()


# --- the decision: JSON, from this site --------------------------------------------------------------
@pytest.fixture
def waiting(api: Api, outreach: dict[str, Any]) -> Iterator[tuple[str, ApprovalRecord, str]]:
    """A run started over HTTP and parked at its approval: (execution id, record, approver's sig);
    stopped afterwards if it still waits."""
    started = api.start(outreach)
    assert started.status == 202, started.text
    execution_id: str = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    yield execution_id, record, api.runtime.signed_link_signature(record)
    sfn = api.runtime.sfn
    for arn in api.runtime.state_machines.values():
        for item in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            with contextlib.suppress(Exception):  # best effort: moto cannot stop a run still starting
                sfn.stop_execution(executionArn=item["executionArn"], error="TestOver")


def _still_waits(api: Api, execution_id: str, approval_id: str) -> bool:
    record = api.runtime.approvals().store.get(approval_id)
    run = api.request("GET", f"/executions/{execution_id}").json()
    return record is not None and record.status == "PENDING" and run["status"] == "RUNNING"


def test_a_decision_that_is_not_json_decides_nothing(
    api: Api, waiting: tuple[str, ApprovalRecord, str]
) -> None:
    # Given a run waiting for approval, and the approver's valid decision as JSON text
    execution_id, record, sig = waiting
    path = f"/approvals/{record.approval_id}/decision"
    decision = json.dumps({"decision": "approve", "sig": sig})

    # When it arrives as text/plain (what a form on another site can post without a preflight)
    reply = api.request("POST", path, decision, client=None, headers={"content-type": "text/plain"})

    # Then it is 415 with a JSON message, and the run still waits for a decision
    assert reply.status == 415
    assert "message" in reply.json()
    assert _still_waits(api, execution_id, record.approval_id)
    # while the approval page's own request (JSON, same origin) still decides
    page = api.request(
        "POST",
        path,
        decision,
        client=None,
        headers={"origin": api.server.url, "sec-fetch-site": "same-origin"},
    )
    assert page.status == 200, page.text
    assert page.json()["status"] == "APPROVED"


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},  # the same host on another port is another origin
    ],
    ids=["sec-fetch-site", "other-origin", "opaque-origin", "other-port"],
)
def test_a_decision_from_another_site_is_forbidden(
    api: Api, waiting: tuple[str, ApprovalRecord, str], headers: dict[str, str]
) -> None:
    # Given a run waiting for approval, and the approver's valid decision
    execution_id, record, sig = waiting

    # When a browser posts it from another site
    reply = api.request(
        "POST",
        f"/approvals/{record.approval_id}/decision",
        {"decision": "reject", "sig": sig},
        client=None,
        headers=headers,
    )

    # Then it is 403 with a JSON message, and the run still waits for a decision
    assert reply.status == 403
    assert "message" in reply.json()
    assert _still_waits(api, execution_id, record.approval_id)


# --- no body ends in a 5xx -------------------------------------------------------------------------
@pytest.mark.parametrize("path", [START, "/approvals/ap-unknown/decision"], ids=["start", "decision"])
def test_a_body_nested_10000_deep_is_a_400(api: Api, path: str) -> None:
    # Given JSON nested 10,000 deep (a RecursionError for the parser)
    # When it is posted to a route that reads a body
    reply = api.request("POST", path, DEEP)

    # Then it is the validation error of the body (400), not a 502
    assert reply.status == 400, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "(body)"


@pytest.mark.parametrize("path", [START, "/approvals/ap-unknown/decision"], ids=["start", "decision"])
def test_a_body_over_the_limit_is_a_413_from_the_handler_too(api: Api, path: str) -> None:
    # Given a JSON body over the limit that API Gateway (10 MB) would let through to the handler
    body = json.dumps({"padding": "x" * (MAX_BODY + 1)})
    headers = {"content-type": "application/json", "Host": "127.0.0.1", **api.credentials()}

    # When the handler gets it (past the local server's own size check, as behind API Gateway)
    status, _, payload = api.server.respond("POST", path, headers, body, "127.0.0.1")

    # Then it is 413 with a JSON message
    assert status == 413
    assert "message" in json.loads(payload)
