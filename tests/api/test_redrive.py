"""POST /executions/{id}/redrive over HTTP: who may, what it answers, and that nothing repeats."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.adapters import get_billing
from tests.api.conftest import Api

pytestmark = pytest.mark.slow

#: examples/api_clients.json: the operator's client has stepwise/redrive; crm-sync starts and reads only.
OPERATOR = "console"


def _failed_referral(api: Api) -> str:
    """A referral started over HTTP whose last step failed (after its email and credit): its id."""
    referral = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    payload: dict[str, Any] = {**referral, "referrer_contact_id": "RF-300", "reward_cents": 5000}
    api.runtime.dispatcher.inject("LogRewarded", "Lambda.Unknown", times=3)
    started = api.request("POST", "/workflows/referral/executions", payload)
    assert started.status == 202, started.text
    execution_id: str = started.json()["executionId"]
    assert api.wait_for_end(execution_id)["status"] == "FAILED"
    return execution_id


def _redrive(api: Api, execution_id: str, client: str | None = OPERATOR) -> Any:
    return api.request("POST", f"/executions/{execution_id}/redrive", client=client)


def test_an_operator_redrives_a_failed_run_and_it_succeeds_without_repeating_a_send(api: Api) -> None:
    # Given a run that failed after it thanked the referrer and granted the credit
    execution_id = _failed_referral(api)
    outbox = api.request("GET", "/local/outbox").json()

    # When the operator redrives it
    reply = _redrive(api, execution_id)

    # Then 202 names the same run and where to follow it, and the run succeeds
    assert reply.status == 202, reply.text
    body = reply.json()
    assert body["executionId"] == execution_id
    assert reply.headers["Location"] == f"/executions/{execution_id}"
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["redriveCount"] == 1
    assert body["executionArn"] == run["executionArn"]
    # and nothing irreversible happened twice
    assert api.request("GET", "/local/outbox").json() == outbox
    assert len(get_billing().list_credits("RF-300")) == 1

    # And redriving the succeeded run is a conflict with Step Functions' reason
    again = _redrive(api, execution_id)
    assert again.status == 409
    assert again.json() == {"message": "Execution is SUCCEEDED and cannot be redriven."}


def test_a_client_without_the_redrive_scope_is_forbidden_and_nothing_runs(api: Api) -> None:
    # Given a failed run
    execution_id = _failed_referral(api)

    # When a client that may start and read runs (but not redrive) tries, or a caller with no token
    forbidden = _redrive(api, execution_id, client="crm-sync")
    unauthorized = _redrive(api, execution_id, client=None)

    # Then API Gateway's authorizer refuses both (a token without the route's scope is a 401 there)
    assert forbidden.status == 401
    assert unauthorized.status == 401
    # and the run stays FAILED
    assert api.request("GET", f"/executions/{execution_id}").json()["status"] == "FAILED"


def test_redriving_an_unknown_run_is_not_found(api: Api) -> None:
    assert _redrive(api, "referral-0000000000").status == 404
    assert _redrive(api, "no_such_workflow-1").status == 404
