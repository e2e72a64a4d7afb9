"""The HTTP API and the roles as deployed: the API Lambda from its own asset, environment and role.

The local server plays API Gateway (the Cognito authorizer on machine routes, the stage in the path); the
handler behind it is the deployed API function's process. The approval link is the one the
deployed request-approval step emailed, on API Gateway's URL, opened the way a person would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from functions.registry import API_HANDLER, ROOT
from functions.shared.aws import client
from local.runtime import LocalRuntime
from tests.api.conftest import Api, serving
from tests.reliability.scenarios import main

pytestmark = pytest.mark.slow

EMAILED_LINK = re.compile(r"https://\S+/approvals/[A-Za-z0-9_-]+\?sig=[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def deployed_api(deployed_account: LocalRuntime) -> Iterator[Api]:
    with serving(deployed_account) as served:
        yield served


@pytest.fixture
def api(deployed_api: Api, deployed: LocalRuntime) -> Api:
    return deployed_api


def example(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / f"{workflow}.json").read_text(encoding="utf-8"))
    return loaded


def test_a_run_started_over_http_is_approved_through_the_emailed_link_and_succeeds(api: Api) -> None:
    # Given a run started through the deployed API function, with the API key, as curl would
    outreach = example("sales_outreach")
    started = api.start(outreach)
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]
    # on the state machine the template deployed (its live alias, STEPWISE_STATE_MACHINES)
    machine = api.runtime.state_machines["sales_outreach"].split(":stateMachine:", 1)[1].split(":", 1)[0]
    assert started.json()["executionArn"].split(":execution:", 1)[1].startswith(f"{machine}:")
    api.wait_for_approval(execution_id)

    # When the approver opens the link the deployed step emailed (API Gateway's URL, its stage)
    # (SES as it stored the message; /local/outbox shows the same link on this server)
    sent = [e["body"] for e in api.runtime.outbox() if e["to"] == outreach["approver_email"]]
    (link,) = [found for body in sent for found in EMAILED_LINK.findall(body)]
    api_function = api.runtime.deployment.function(API_HANDLER)
    assert link.startswith(api_function.environment["STEPWISE_APPROVAL_LINK_BASE_URL"].rstrip("/"))
    assert "execute-api" in str(urlsplit(link).hostname)
    path = api.server.public_path(link)
    page = api.request("GET", path, client=None)
    assert page.status == 200, page.text
    assert "Approve" in page.text
    approval_id = urlsplit(link).path.rsplit("/", 1)[-1]
    sig = urlsplit(link).query.removeprefix("sig=")
    decided = api.request(
        "POST",
        f"{urlsplit(path).path}/decision",
        {"decision": "approve", "sig": sig, "comment": "go"},
        client=None,
    )
    assert decided.status == 200, decided.text

    # Then the run succeeds and GET /executions/{id} (which reads the ASL from the asset) has its timeline
    run = api.wait_for_end(execution_id, timeout_s=60)
    assert run["status"] == "SUCCEEDED", run
    assert run["output"]["status"] == "sent"
    assert run["approvals"][0]["approval_id"] == approval_id
    assert [row["state"] for row in run["timeline"]][-2:] == ["SendEmail", "LogActivity"]
    shown = api.request("GET", "/local/outbox").json()
    assert any(f"{api.server.url}/approvals/{approval_id}?sig=" in e["body"] for e in shown)


def test_the_api_refuses_bad_input_with_field_errors_as_deployed(api: Api) -> None:
    reply = api.start({**example("sales_outreach"), "lead_id": ""})
    assert reply.status == 400, reply.text
    assert reply.json()["errors"][0]["field"]


def test_the_openapi_document_is_served_as_deployed_without_a_key(api: Api) -> None:
    # Given no credential (API Gateway requires none on GET /openapi.json)
    # When the deployed API function is asked for its contract
    reply = api.request("GET", "/openapi.json", client=None)

    # Then it is the committed docs/openapi.json: the deployed code documents the same API
    assert reply.status == 200, reply.text
    assert reply.json() == json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


def test_a_role_without_its_grant_fails_the_step_with_access_denied(deployed: LocalRuntime) -> None:
    """Remove one statement (ses:SendEmail) from the send step's role: the run must fail there."""
    (send,) = [
        f
        for f in deployed.deployment.assembly.functions.values()
        if f.handler.endswith("sales_outreach.send_email.handler")
    ]
    role = deployed.deployment.assembly.roles[send.role_arn]
    iam = client("iam")
    originals = {
        name: iam.get_role_policy(RoleName=role.name, PolicyName=name)["PolicyDocument"]
        for name in role.policies
    }
    try:
        for name, document in originals.items():
            statements = [s for s in document["Statement"] if "ses:SendEmail" not in json.dumps(s)]
            assert len(statements) < len(document["Statement"]) or name != next(iter(originals))
            iam.put_role_policy(
                RoleName=role.name,
                PolicyName=name,
                PolicyDocument=json.dumps({**document, "Statement": statements}),
            )
        result = _drive_main(deployed)
    finally:
        for name, document in originals.items():
            iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document))

    assert result.status == "FAILED"
    assert "AccessDenied" in (result.cause or ""), result.cause
    failed = [row.state for row in result.timeline if row.status in ("FAILED", "CAUGHT")]
    assert failed[0] == "SendEmail", failed


def _drive_main(runtime: LocalRuntime) -> Any:
    from tests.reliability.scenarios import drive

    return drive(runtime, main("sales_outreach"))


def test_in_the_ses_sandbox_an_unverified_approver_fails_the_request_with_ses_s_message(
    deployed: LocalRuntime,
) -> None:
    deployed.deployment.ses_sandbox = True
    try:
        result = _drive_main(deployed)
    finally:
        deployed.deployment.ses_sandbox = False

    assert result.status == "FAILED"
    assert "Email address is not verified" in (result.cause or ""), result.cause
    assert example("sales_outreach")["approver_email"] in (result.cause or "")
    failed = [row.state for row in result.timeline if row.status in ("FAILED", "CAUGHT")]
    assert failed[0] == "RequestApproval", failed


# --- authentication as deployed: the template's authorizer, scopes and app clients ----------------
def test_the_server_takes_each_methods_scope_and_the_clients_from_the_template(api: Api) -> None:
    # Given the synthesized API (methods, authorizer, user pool clients)
    assembly = api.runtime.deployment.assembly
    # Then the server plays exactly the template's methods, with the template's scopes
    assert {(m.http_method, m.resource_path): m.scopes for m in assembly.api_methods} == {
        key: auth.scopes for key, auth in api.server.methods.items()
    }
    assert api.server.methods[("POST", "/workflows/{workflow}/executions")].scopes == ("stepwise/start",)
    assert api.server.methods[("GET", "/approvals/{approvalId}")].authorization_type == "NONE"
    # and its issuer is the template's user pool, whose client ids are not the client names
    (pool,) = {p for m in assembly.api_methods for p in m.user_pool_ids}
    assert api.server.issuer.pool_id == pool
    assert api.server.issuer.clients["crm-sync"].client_id != "crm-sync"


def test_tokens_and_scopes_are_checked_and_started_by_is_recorded_as_deployed(api: Api) -> None:
    outreach = example("sales_outreach")
    # Given no token, or a read-only client's token: 401, nothing started
    assert api.request("POST", "/workflows/sales_outreach/executions", outreach, client=None).status == 401
    refused = api.request("POST", "/workflows/sales_outreach/executions", outreach, client="reporting")
    assert (refused.status, refused.json()) == (401, {"message": "Unauthorized"})

    # When crm-sync starts a run with its start token
    started = api.request(
        "POST", "/workflows/sales_outreach/executions", outreach, scopes=("stepwise/start",)
    )
    assert started.status == 202, started.text

    # Then the deployed API function (its own environment: STEPWISE_API_CLIENTS from the template)
    # recorded the client by its template id, with its owner
    run = api.request("GET", f"/executions/{started.json()['executionId']}").json()
    client_id = api.server.issuer.clients["crm-sync"].client_id
    assert run["startedBy"]["client"] == "crm-sync"
    assert run["startedBy"]["clientId"] == client_id
    assert run["startedBy"]["owner"] == "ops-lead@acme-demo.com"


def test_the_referral_attack_is_refused_over_http_as_deployed(api: Api) -> None:
    referral = {**example("referral"), "reward_cents": 100_000}
    # Given a caller routing the $1,000 reward's approval to their own mailbox: 400
    mallory = api.request(
        "POST", "/workflows/referral/executions", {**referral, "rewards_approver": "mallory@evil.example"}
    )
    assert mallory.status == 400, mallory.text
    assert [e["field"] for e in mallory.json()["errors"]] == ["rewards_approver"]
    # and the rewards portal, whose owner (the finance lead) is the only approver of a $300 reward,
    # cannot start one either
    referral.pop("rewards_approver", None)
    own_referral = {**referral, "reward_cents": 30_000}
    own = api.request("POST", "/workflows/referral/executions", own_referral, client="rewards-portal")
    assert own.status == 400, own.text
    assert [e["field"] for e in own.json()["errors"]] == ["rewards_approver"]


def test_a_search_lists_the_runs_started_through_the_live_alias_as_deployed(api: Api) -> None:
    # Given a run started through the API (on the workflow's live alias)
    started = api.start(example("sales_outreach"))
    assert started.status == 202, started.text

    # When a reader searches that workflow's runs with the deployed API function's own role
    found = api.request("GET", "/executions?workflow=sales_outreach", client="reporting")

    # Then the run is listed (the role may list the machine; listing the alias was AccessDenied → 502)
    assert found.status == 200, found.text
    assert started.json()["executionId"] in [run["executionId"] for run in found.json()["executions"]]


def test_a_failed_run_is_redriven_through_the_deployed_api_with_its_own_role(api: Api) -> None:
    # Given a referral that failed at its last step, after its email and its credit
    referral = {**example("referral"), "referrer_contact_id": "RF-300", "reward_cents": 5000}
    api.runtime.dispatcher.inject("LogRewarded", "Lambda.Unknown", times=3)
    started = api.request("POST", "/workflows/referral/executions", referral)
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]
    assert api.wait_for_end(execution_id, timeout_s=60)["status"] == "FAILED"
    emails = api.runtime.outbox()

    # When the operator's client redrives it (the API function's role calls states:RedriveExecution)
    reply = api.request("POST", f"/executions/{execution_id}/redrive", client="console")

    # Then the deployed role may, the run succeeds, and nothing was sent twice
    assert reply.status == 202, reply.text
    assert api.wait_for_end(execution_id, timeout_s=60)["status"] == "SUCCEEDED"
    assert api.runtime.outbox() == emails
