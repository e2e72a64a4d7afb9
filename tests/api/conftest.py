"""A real local API server (port chosen by the OS) over a fresh moto runtime, and a small client.

A machine request carries an access token the server's own issuer minted for ``CLIENT``
(``local.auth.credentials``: the one place a local test client gets credentials), checked by the
server as API Gateway's Cognito authorizer would; approval requests pass ``client=None``.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from functions.registry import ROOT
from local.auth import credentials
from local.runtime import LocalRuntime
from local.server import LocalApiServer

#: The client a test calls as unless it says otherwise (examples/api_clients.json: start + read).
CLIENT = "crm-sync"
LINK = re.compile(r"http://\S+/approvals/(?P<id>[A-Za-z0-9_-]+)\?sig=(?P<sig>[A-Za-z0-9_-]+)")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Api:
    runtime: LocalRuntime
    server: LocalApiServer
    #: Every response body the tests saw (the token-leak test scans them all).
    seen: list[str] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        client: str | None = CLIENT,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """``client``'s token (with ``scopes``, default all it may have) unless ``None``;
        ``headers`` go over it (an ``Authorization`` there replaces the token)."""
        parts = urlsplit(self.server.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        sent = self.credentials(client, *scopes) if client is not None else {}
        sent.update(headers or {})
        payload = None
        if body is not None:
            payload = body if isinstance(body, str) else json.dumps(body)
            sent.setdefault("content-type", "application/json")
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        reply = Reply(response.status, dict(response.getheaders()), response.read().decode())
        connection.close()
        self.seen.append(reply.text)
        return reply

    def credentials(self, client: str = CLIENT, *scopes: str) -> dict[str, str]:
        return credentials(self.server.issuer, client, *scopes)

    def start(self, payload: dict[str, Any], **headers: str) -> Reply:
        return self.request("POST", "/workflows/sales_outreach/executions", payload, headers=headers or None)

    def wait_for_approval(self, execution_id: str, timeout_s: float = 30) -> dict[str, Any]:
        """Poll like a person would until the run waits for a decision (callback task submitted)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.request("GET", f"/executions/{execution_id}").json()
            if any(row["status"] == "WAITING" for row in run["timeline"]) and run["approvals"]:
                return dict(run)
            assert run["status"] == "RUNNING", run
            time.sleep(0.02)
        raise AssertionError(f"{execution_id} never waited for an approval")

    def wait_for_end(self, execution_id: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.request("GET", f"/executions/{execution_id}").json()
            if run["status"] != "RUNNING":
                return dict(run)
            time.sleep(0.02)
        raise AssertionError(f"{execution_id} did not end")

    def links(self, to: str | None = None) -> list[tuple[str, str]]:
        """(approval id, signature) of every approval link in the outbox, oldest first."""
        emails = self.request("GET", "/local/outbox").json()
        return [
            (m["id"], m["sig"])
            for e in emails
            if to is None or e["to"] == to
            for m in LINK.finditer(e["body"])
        ]


@contextmanager
def serving(runtime: LocalRuntime) -> Iterator[Api]:
    """The local API server (a port the OS picks, no SLA sweeps) over ``runtime``."""
    server = LocalApiServer(runtime, port=0, sweep_every_s=3600).start()
    try:
        yield Api(runtime=runtime, server=server)
    finally:
        server.stop()


@pytest.fixture
def api() -> Iterator[Api]:
    with (
        LocalRuntime(env={"STEPWISE_APPROVAL_LINK_BASE_URL": "http://127.0.0.1:1"}) as runtime,
        serving(runtime) as served,
    ):
        yield served


@pytest.fixture
def outreach() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8")
    )
    return loaded
