"""``python -m local history`` (against a running server) and ``run --history`` (in-process)."""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.approvals import Decision
from functions.shared.aws import client
from functions.shared.config import settings
from local.auth import CognitoAuthorizer, LocalIssuer, credentials
from local.cli import EXIT_INVALID, EXIT_OK, EXIT_UNREACHABLE, format_history, main
from local.runtime import LocalRuntime
from local.server import LocalApiServer

EXAMPLE = ROOT / "examples" / "sales_outreach.json"


@dataclass
class Served:
    runtime: LocalRuntime
    server: LocalApiServer

    def get(self, path: str) -> Any:
        host, port = self.server.httpd.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=30)
        connection.request("GET", path, headers=credentials(self.server.issuer, "reporting"))
        body = json.loads(connection.getresponse().read())
        connection.close()
        return body

    def rejected_run(self) -> tuple[str, str]:
        """A sales-outreach run started over HTTP and rejected by its approver: (execution id, ARN)."""
        host, port = self.server.httpd.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=30)
        connection.request(
            "POST",
            "/workflows/sales_outreach/executions",
            body=EXAMPLE.read_text(encoding="utf-8"),
            headers={**credentials(self.server.issuer, "crm-sync"), "content-type": "application/json"},
        )
        started = json.loads(connection.getresponse().read())
        connection.close()
        arn = started["executionArn"]
        self.runtime.wait(arn, until="approval")
        record = self.runtime.pending_approvals(started["executionId"])[0]
        self.runtime.decide(record, Decision(decision="reject", comment="not this quarter"))
        assert self.runtime.wait(arn)["status"] == "SUCCEEDED"
        return started["executionId"], arn


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with LocalRuntime() as runtime:
        server = LocalApiServer(runtime, port=0, sweep_every_s=3600).start()
        # The operator's read token (what `python -m local token --client reporting` prints)
        monkeypatch.setenv("STEPWISE_API_TOKEN", server.issuer.mint("reporting"))
        try:
            yield Served(runtime, server)
        finally:
            server.stop()


def _history(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["history", *argv], out=out)
    return code, out.getvalue()


def _audit_usd(execution: str) -> float:
    s3 = client("s3")
    bucket = settings().audit_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"audit/{execution}/").get("Contents", [])
    return sum(
        float(json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())["cost_usd"])
        for o in listed
    )


def test_history_prints_the_served_runs_timeline_approvals_and_cost(served: Served) -> None:
    # Given a run that `make serve` ran and its approver rejected
    execution, _ = served.rejected_run()

    # When the operator asks for its history from another terminal
    code, out = _history(execution, "--url", served.server.url)

    # Then every step of the API's timeline is one row, in order, with its kind and status
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith(f"{execution}: SUCCEEDED  (sales_outreach, started ")
    timeline = served.get(f"/executions/{execution}")["timeline"]
    rows = lines[2 : 2 + len(timeline)]
    for index, (line, step) in enumerate(zip(rows, timeline, strict=True), 1):
        assert line.split()[:4] == [
            str(index),
            step["state"],
            step["kind"] or step["type"].lower(),
            step["status"],
        ]
    assert "RequestApproval" in rows[5]
    assert "CAUGHT" in rows[5]
    assert "ApprovalRejected" in rows[5]
    # And the compensation, the decision and the LLM cost (run ledger = sum of the audit objects) follow
    assert "compensation (undid earlier steps): RevertStatusAfterRejection" in out
    assert (
        "approval RequestApproval: sales-lead@acme-demo.com REJECTED by sales-lead@acme-demo.com: "
        "not this quarter" in out
    )
    assert f"cost: ${_audit_usd(execution):.6f} (" in out
    assert "source: run ledger" in out
    assert "  research_lead " in out
    assert "  draft_email " in out


def test_history_accepts_the_execution_arn(served: Served) -> None:
    execution, arn = served.rejected_run()
    by_id = _history(execution, "--url", served.server.url)
    by_arn = _history(arn, "--url", served.server.url)
    assert by_arn[0] == EXIT_OK
    assert by_arn[1].splitlines()[:3] == by_id[1].splitlines()[:3]


def test_history_of_an_unknown_run_is_one_line_and_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _history("sales_outreach-doesnotexist", "--url", served.server.url)
    assert code == EXIT_INVALID
    assert out == ""
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith("error: not found: /executions/sales_outreach-doesnotexist")


def test_history_with_a_wrong_token_says_so(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STEPWISE_API_TOKEN", "not-a-token")
    code, _ = _history("sales_outreach-anything", "--url", served.server.url)
    assert code == EXIT_INVALID
    assert "refused the token" in capsys.readouterr().err


def test_history_of_a_remote_api_without_a_token_asks_for_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STEPWISE_API_TOKEN", raising=False)
    code, _ = _history("sales_outreach-anything", "--url", "https://api.acme-demo.com/dev/")
    assert code == EXIT_INVALID
    assert "set STEPWISE_API_TOKEN" in capsys.readouterr().err


def test_the_token_command_mints_what_the_local_server_accepts_for_that_client_only() -> None:
    # Given the local issuer `serve` uses (its key kept in .stepwise/local-issuer)
    out = io.StringIO()

    # When the operator mints a read token for the reporting client
    assert main(["token", "--client", "reporting", "--scope", "stepwise/read"], out=out) == EXIT_OK

    # Then the authorizer accepts it for reads, with the client's identity, and not for starts
    issuer = LocalIssuer.persisted()
    authorizer = CognitoAuthorizer.of(issuer)
    token = out.getvalue().strip()
    claims = authorizer.claims(f"Bearer {token}", ["stepwise/read"])
    assert claims is not None
    assert claims["client_id"] == issuer.clients["reporting"].client_id
    assert claims["token_use"] == "access"
    assert authorizer.claims(token, ["stepwise/start"]) is None
    # and a scope the client may not have is refused, as Cognito's invalid_scope
    assert (
        main(["token", "--client", "reporting", "--scope", "stepwise/start"], out=io.StringIO())
        == EXIT_INVALID
    )


def test_history_without_a_server_exits_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("STEPWISE_API_TOKEN", "any-token")
    code, _ = _history("sales_outreach-anything", "--url", f"http://127.0.0.1:{port}")
    assert code == EXIT_UNREACHABLE
    assert "is `make serve` running there?" in capsys.readouterr().err


def test_run_with_history_prints_the_timeline_once_with_the_compensation_approval_and_cost() -> None:
    out = io.StringIO()
    code = main(
        ["run", "sales_outreach", "--input", str(EXAMPLE), "--decision", "reject", "--history"], out=out
    )
    text = out.getvalue()
    assert code == EXIT_OK
    assert text.count("RevertStatusAfterRejection   compensation") == 1
    assert "\nhistory of sales_outreach-" in text
    assert "compensation (undid earlier steps): RevertStatusAfterRejection" in text
    assert "REJECTED by sales-lead@acme-demo.com" in text
    assert "source: run ledger" in text


def test_run_with_history_refuses_a_name_the_api_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "sales_outreach", "--input", str(EXAMPLE), "--history", "--name", "my-run"], out=io.StringIO()
    )
    assert code == EXIT_INVALID
    assert "--name must start with 'sales_outreach-'" in capsys.readouterr().err


def test_history_prints_the_run_ledgers_cost_when_the_api_carries_it(served: Served) -> None:
    # Given the API's answer for a run, with the ledger's `cost` field the ledger adds (issue #7, part A)
    execution, _ = served.rejected_run()
    view = served.get(f"/executions/{execution}")
    ledger = {
        "inputTokens": 10,
        "outputTokens": 20,
        "cacheReadTokens": 30,
        "cacheWriteTokens": 40,
        "usd": 0.5,
        "steps": [{"step": "draft_email", "attempt": 1, "model": "m", "usd": 0.5}],
    }

    # When it is printed, the ledger's figures are used and named as the source
    text = format_history({**view, "cost": ledger}, ledger)
    assert "cost: $0.500000 (10 in, 20 out, 30 cache-read, 40 cache-write tokens; source: run ledger)" in text
    assert "  draft_email                  #1   m" in text


def test_history_of_a_waiting_run_prints_the_signed_link_to_decide(served: Served) -> None:
    # Given a run of `make serve` waiting for its approver
    host, port = served.server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    connection.request(
        "POST",
        "/workflows/sales_outreach/executions",
        body=EXAMPLE.read_text(encoding="utf-8"),
        headers={**credentials(served.server.issuer, "crm-sync"), "content-type": "application/json"},
    )
    started = json.loads(connection.getresponse().read())
    connection.close()
    served.runtime.wait(started["executionArn"], until="approval")
    (record,) = served.runtime.pending_approvals(started["executionId"])

    # When the operator asks for its history
    code, out = _history(started["executionId"], "--url", served.server.url)

    # Then the pending approval is printed with a link on this server that opens its page
    assert code == EXIT_OK
    assert "approval RequestApproval: sales-lead@acme-demo.com PENDING" in out
    (link,) = [line.split("open: ", 1)[1] for line in out.splitlines() if line.startswith("  open: ")]
    assert link.startswith(f"{served.server.url}/approvals/{record.approval_id}?sig=")
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    connection.request("GET", link.removeprefix(served.server.url))
    page = connection.getresponse()
    assert page.status == 200
    assert record.draft.subject in page.read().decode()
    connection.close()
