"""Machine routes need an access token for the route's scope; the run records who started it (#19).

The local server plays API Gateway's Cognito authorizer with real JWT checks (``local/auth.py``);
every forged, expired or foreign token here is a real RS256 token that fails one check.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.registry import ROOT
from functions.shared.aws import client as aws_client
from local.auth import LocalIssuer, issuer_url
from tests.api.conftest import Api

START = "/workflows/sales_outreach/executions"
UNAUTHORIZED = {"message": "Unauthorized"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign(
    api: Api, claims: dict[str, Any], *, key: Any = None, kid: str | None = None, alg: str = "RS256"
) -> str:
    """A token with ``claims`` over a valid one's, signed with ``key`` (default: the issuer's)."""
    issuer = api.server.issuer
    base = jwt.decode(issuer.mint("crm-sync"), options={"verify_signature": False})
    return jwt.encode(
        {**base, **claims},
        key if key is not None else issuer.key,
        algorithm=alg,
        headers={"kid": kid or issuer.kid},
    )


def _runs(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.request("GET", "/executions?workflow=sales_outreach").json()[
        "executions"
    ]
    return found


# --- 401: no valid token ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda api: _sign(api, {"exp": int(time.time()) - 5}), id="expired"),
        pytest.param(
            lambda api: _sign(api, {}, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="signed-by-another-key",
        ),
        pytest.param(
            lambda api: _sign(api, {"iss": issuer_url("us-east-1_SomeoneElse")}), id="another-issuer"
        ),
        pytest.param(lambda api: _sign(api, {"token_use": "id"}), id="an-id-token"),
        pytest.param(lambda api: _sign(api, {"client_id": "not-a-client"}), id="unknown-client"),
        pytest.param(
            lambda api: jwt.encode(
                {"client_id": "crm-sync", "scope": "stepwise/start"},
                None,  # type: ignore[arg-type]  # "none" signs with no key
                algorithm="none",
            ),
            id="alg-none",
        ),
        pytest.param(
            lambda api: LocalIssuer.in_memory().mint("crm-sync"), id="same-pool-id-other-signing-key"
        ),
    ],
)
def test_a_forged_expired_or_foreign_token_cannot_start_a_run(
    api: Api, outreach: dict[str, Any], forge: Any
) -> None:
    # Given a token that fails one of the authorizer's checks
    token = forge(api)

    # When a client starts a run with it
    reply = api.request("POST", START, outreach, client=None, headers=_bearer(token))

    # Then API Gateway's authorizer answers 401 with its own body, and nothing started
    assert reply.status == 401, reply.text
    assert reply.json() == UNAUTHORIZED
    assert _runs(api) == []


def test_a_read_token_cannot_start_and_a_start_token_cannot_read(api: Api, outreach: dict[str, Any]) -> None:
    # Given the reporting client, which may only read
    # When it starts a run, Then the authorizer refuses the token for this method (401) and nothing ran
    refused = api.request("POST", START, outreach, client="reporting")
    assert refused.status == 401
    assert refused.json() == UNAUTHORIZED
    assert _runs(api) == []

    # Given a run started with a start-only token of a client that may do both
    started = api.request("POST", START, outreach, scopes=("stepwise/start",))
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]

    # When that start-only token reads the run, Then it is refused too; a read token reads it
    assert api.request("GET", f"/executions/{execution_id}", scopes=("stepwise/start",)).status == 401
    assert api.request("GET", f"/executions/{execution_id}", client="reporting").status == 200


def test_the_handler_refuses_claims_without_the_scope_even_behind_a_misconfigured_gateway(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a gateway that let a read token through to the start route (a method deployed without
    # its scope), so the handler sees the claims of a read-only client
    from local.auth import CognitoAuthorizer
    from local.server import proxy_event

    issuer = api.server.issuer
    claims = CognitoAuthorizer.of(issuer).claims(issuer.mint("reporting"), ["stepwise/read"])
    event = proxy_event("POST", START, {"content-type": "application/json"}, "{}", "127.0.0.1", claims)

    # When the API function handles it, Then it answers 403 itself; without claims, 401
    status, _, body = _handle(api, event)
    assert (status, body) == (403, {"message": "Forbidden"})
    event = proxy_event("POST", START, {"content-type": "application/json"}, "{}", "127.0.0.1")
    status, _, body = _handle(api, event)
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert _runs(api) == []


def _handle(api: Api, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    import json

    from functions.registry import API_HANDLER
    from local.server import _context

    result = api.runtime.function_handler(API_HANDLER)(event, _context("stepwise-api", 512, 29))
    return int(result["statusCode"]), result.get("headers") or {}, json.loads(result["body"])


# --- startedBy --------------------------------------------------------------------------------------
def test_the_run_records_which_client_started_it_and_its_owner(api: Api, outreach: dict[str, Any]) -> None:
    # Given the crm-sync client (owner ops-lead@) with a start token
    # When it starts a run
    started = api.request("POST", START, outreach, scopes=("stepwise/start",))
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]

    # Then GET /executions/{id} names the client, its owner and the token's scopes, apart from the input
    run = api.request("GET", f"/executions/{execution_id}").json()
    assert run["startedBy"] == {
        "client": "crm-sync",
        "clientId": "crm-sync",
        "owner": "ops-lead@acme-demo.com",
        "scopes": ["stepwise/start"],
        "subject": "crm-sync",
    }
    assert "startedBy" not in run["input"]
    # and the Step Functions console shows it in the execution's input
    described = aws_client("stepfunctions").describe_execution(executionArn=started.json()["executionArn"])
    assert '"startedBy":{"client":"crm-sync"' in described["input"]


def test_a_caller_cannot_write_started_by_itself(api: Api, outreach: dict[str, Any]) -> None:
    # Given a body that claims to have been started by someone else
    forged = {**outreach, "startedBy": {"client": "console", "owner": "operator@acme-demo.com"}}

    # When it is posted, Then the input model refuses the unknown field and nothing starts
    reply = api.request("POST", START, forged)
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == ["startedBy"]
    assert _runs(api) == []


def test_idempotency_keys_belong_to_their_client(api: Api, outreach: dict[str, Any]) -> None:
    # Given two clients that happen to choose the same Idempotency-Key
    key = {"Idempotency-Key": "order-42"}
    first = api.request("POST", START, outreach, client="crm-sync", headers=key)
    again = api.request("POST", START, outreach, client="crm-sync", headers=key)
    other = api.request("POST", START, outreach, client="console", headers=key)

    # Then each client's retry is its own run, and another client's key is another run
    assert first.status == again.status == other.status == 202
    assert first.json()["executionId"] == again.json()["executionId"]
    assert other.json()["executionId"] != first.json()["executionId"]


# --- a requester never approves their own run ---------------------------------------------------------
def _referral() -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("named", [None, "finance-lead@acme-demo.com"], ids=["default", "named-themselves"])
def test_the_rewards_portal_cannot_route_its_referral_to_its_own_owner(api: Api, named: str | None) -> None:
    # Given the rewards-portal client, whose accountable owner (the finance lead) is the only
    # approver of the directory's $100.01-$500 tier
    body = {**_referral(), "reward_cents": 30_000}
    body.pop("rewards_approver", None)
    if named:
        body["rewards_approver"] = named

    # When it starts a $300 referral (leaving the approver to the directory, or naming its owner)
    reply = api.request("POST", "/workflows/referral/executions", body, client="rewards-portal")

    # Then the start is refused on the approver field: nobody else may approve, and nothing ran
    assert reply.status == 400, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "rewards_approver"
    assert "own run" in error["message"] or "requester" in error["message"]
    assert api.request("GET", "/executions?workflow=referral").json() == {"executions": []}


def test_the_referral_attack_with_an_outside_address_is_refused_for_any_client(api: Api) -> None:
    # Given a caller who routes the reward's approval to a mailbox they control
    body = {**_referral(), "reward_cents": 100_000, "rewards_approver": "mallory@evil.example"}

    # When it starts the run, Then it is a 400 on the approver field
    reply = api.request("POST", "/workflows/referral/executions", body)
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == ["rewards_approver"]


def test_another_client_gets_the_directory_approver(api: Api) -> None:
    # Given crm-sync (owner ops-lead@), who is no rewards approver
    body = {**_referral(), "reward_cents": 100_000}
    body.pop("rewards_approver", None)

    # When it starts the referral, Then the directory's rewards approver gets it
    reply = api.request("POST", "/workflows/referral/executions", body)
    assert reply.status == 202, reply.text
    run = api.request("GET", f"/executions/{reply.json()['executionId']}").json()
    assert run["input"]["rewards_approver"] == "cfo@acme-demo.com"  # the $1,000 tier's
    assert run["startedBy"]["owner"] == "ops-lead@acme-demo.com"
