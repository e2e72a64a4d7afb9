"""Issue #19 over HTTP: a start request cannot choose who approves; the approver directory does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.approvers import LOCAL_FILE
from functions.shared.config import settings
from tests.api.conftest import Api

START = "/workflows/referral/executions"
#: examples/approvers.json's referral tiers: up to $100, up to $500, above.
REWARDS_TEAM = "rewards@acme-demo.com"
FINANCE_LEAD = "finance-lead@acme-demo.com"
CFO = "cfo@acme-demo.com"
#: The example referral asks $150: the middle tier's default.
DEFAULT = FINANCE_LEAD


@pytest.fixture
def referral() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    return loaded


def _executions(api: Api) -> list[Any]:
    machine = api.runtime.state_machines["referral"]
    executions: list[Any] = api.runtime.sfn.list_executions(stateMachineArn=machine)["executions"]
    return executions


def test_a_caller_cannot_route_a_reward_approval_to_their_own_mailbox(
    api: Api, referral: dict[str, Any]
) -> None:
    # Given a $1,000 referral credit whose start request names the attacker as its approver
    attack = {**referral, "reward_cents": 100_000, "rewards_approver": "mallory@evil.example"}

    # When it is started over HTTP with a valid API key
    refused = api.request("POST", START, attack)

    # Then it is a 400 naming the field, and no run (so no approval email) exists
    assert refused.status == 400
    (error,) = refused.json()["errors"]
    assert error["field"] == "rewards_approver"
    assert "approver" in error["message"]
    assert _executions(api) == []
    assert api.links(to="mallory@evil.example") == []


def test_leaving_the_approver_out_routes_the_approval_to_the_directory_default(
    api: Api, referral: dict[str, Any]
) -> None:
    # Given a start request that names no approver
    without = {k: v for k, v in referral.items() if k != "rewards_approver"}

    # When it starts and reaches the reward approval
    started = api.request("POST", START, without)
    assert started.status == 202, started.text
    run = api.wait_for_approval(started.json()["executionId"])

    # Then the directory's default approver got it
    assert [a["approver"] for a in run["approvals"]] == [DEFAULT]
    assert len(api.links(to=DEFAULT)) == 1


def test_an_allowed_non_default_approver_may_be_named(
    api: Api, referral: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stage directory that allows a deputy besides the default rewards approver
    directory = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
    directory["referral"]["rewards_approver"]["tiers"][1]["allowed"].append("rewards-deputy@acme-demo.com")
    monkeypatch.setenv("STEPWISE_APPROVERS", json.dumps(directory))
    settings.cache_clear()

    # When a start request names the deputy
    started = api.request("POST", START, {**referral, "rewards_approver": "Rewards-Deputy@acme-demo.com"})

    # Then the run starts and the deputy (normalised) is asked
    assert started.status == 202, started.text
    run = api.wait_for_approval(started.json()["executionId"])
    assert [a["approver"] for a in run["approvals"]] == ["rewards-deputy@acme-demo.com"]
    assert api.links(to=DEFAULT) == []
    settings.cache_clear()


def _started_approver(api: Api, execution_id: str) -> str:
    arn = next(e["executionArn"] for e in _executions(api) if e["executionArn"].endswith(execution_id))
    approver: str = json.loads(api.runtime.sfn.describe_execution(executionArn=arn)["input"])[
        "rewards_approver"
    ]
    return approver


def test_a_50_dollar_and_a_1000_dollar_credit_go_to_different_approvers(
    api: Api, referral: dict[str, Any]
) -> None:
    # Given two referrals that name no approver: a $50 credit and a $1,000 credit
    small = api.request("POST", START, {**referral, "reward_cents": 5_000})
    large = api.request(
        "POST", START, {**referral, "reward_cents": 100_000, "referred_email": "b@orchid.example"}
    )
    assert (small.status, large.status) == (202, 202), (small.text, large.text)

    # When the $1,000 one reaches its reward approval
    run = api.wait_for_approval(large.json()["executionId"])

    # Then the CFO (the top tier) is asked for it, and the $50 run's approver is the rewards team
    assert [a["approver"] for a in run["approvals"]] == [CFO]
    assert len(api.links(to=CFO)) == 1
    assert _started_approver(api, small.json()["executionId"]) == REWARDS_TEAM
    assert _started_approver(api, large.json()["executionId"]) == CFO


@pytest.mark.parametrize("lower_tier", [REWARDS_TEAM, FINANCE_LEAD])
def test_a_lower_tier_approver_named_for_a_high_amount_is_refused(
    api: Api, referral: dict[str, Any], lower_tier: str
) -> None:
    # Given a $1,000 credit whose start request names an approver of a lower tier
    request = {**referral, "reward_cents": 100_000, "rewards_approver": lower_tier}

    # When it is started
    refused = api.request("POST", START, request)

    # Then it is a 400 on the approver field ("at this amount"), and no run exists
    assert refused.status == 400, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == "rewards_approver"
    assert "at this amount" in error["message"]
    assert _executions(api) == []
