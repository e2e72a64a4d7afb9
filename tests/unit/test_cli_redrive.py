"""``python -m local redrive <id or ARN>`` against a running server: redrive, follow, print like ``run``."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from functions.registry import ROOT
from local.auth import credentials
from local.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main
from local.runtime import LocalRuntime
from local.server import LocalApiServer

pytestmark = pytest.mark.slow


@dataclass
class Served:
    runtime: LocalRuntime
    server: LocalApiServer

    def failed_referral(self, faults: int = 3) -> tuple[str, str]:
        """A referral started over HTTP whose last step failed after its send: (execution id, ARN)."""
        referral = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
        payload = {**referral, "referrer_contact_id": "RF-300", "reward_cents": 5000}
        self.runtime.dispatcher.inject("LogRewarded", "Lambda.Unknown", times=faults)
        host, port = self.server.httpd.server_address[:2]
        connection = http.client.HTTPConnection(str(host), port, timeout=30)
        connection.request(
            "POST",
            "/workflows/referral/executions",
            body=json.dumps(payload),
            headers={**credentials(self.server.issuer, "crm-sync"), "content-type": "application/json"},
        )
        started = json.loads(connection.getresponse().read())
        connection.close()
        assert self.runtime.wait(started["executionArn"])["status"] == "FAILED"
        return started["executionId"], started["executionArn"]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with LocalRuntime() as runtime:
        server = LocalApiServer(runtime, port=0, sweep_every_s=3600).start()
        # The operator's token (what `python -m local token --client console` prints)
        monkeypatch.setenv("STEPWISE_API_TOKEN", server.issuer.mint("console"))
        try:
            yield Served(runtime, server)
        finally:
            server.stop()


def _redrive(served: Served, execution: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(["redrive", execution, "--url", served.server.url], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_redrive_by_arn_resumes_the_failed_run_and_prints_it_succeeded(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run that failed at its last step
    execution_id, arn = served.failed_referral()
    emails = len(served.runtime.outbox())

    # When the operator redrives it by its ARN
    code, out, err = _redrive(served, arn, capsys)

    # Then the run succeeded, the output says so with its timeline, and no email went out again
    assert (code, err) == (EXIT_OK, "")
    assert f"{execution_id}: redriven at " in out
    assert f"{execution_id}: SUCCEEDED" in out
    assert "LogRewarded" in out
    assert len(served.runtime.outbox()) == emails

    # And a second redrive is refused with Step Functions' reason
    code, out, err = _redrive(served, execution_id, capsys)
    assert code == EXIT_INVALID
    assert (
        err.strip()
        == f"error: {execution_id} cannot be redriven: Execution is SUCCEEDED and cannot be redriven."
    )


def test_a_redrive_that_fails_again_exits_as_a_failed_run(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run whose step keeps failing (the outage is not over)
    execution_id, _ = served.failed_referral(faults=6)

    # When it is redriven, Then it FAILED again and says where
    code, out, _err = _redrive(served, execution_id, capsys)
    assert code == EXIT_FAILED
    assert f"{execution_id}: FAILED" in out
    assert "error: Lambda.Unknown" in out
