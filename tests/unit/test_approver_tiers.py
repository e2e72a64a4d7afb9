"""Amount tiers of the approver directory (issue #19): where money moves, the amount picks who approves."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from functions.registry import WORKFLOWS
from functions.shared.approvers import LOCAL_FILE, ApproverDirectory
from functions.shared.workflow_input import InputRejected, validate_input

REWARDS_TEAM = "rewards@acme-demo.com"
FINANCE_LEAD = "finance-lead@acme-demo.com"
CFO = "cfo@acme-demo.com"


def example_directory() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
    return loaded


def with_reward_tiers(tiers: list[dict[str, Any]]) -> dict[str, Any]:
    document = copy.deepcopy(example_directory())
    document["referral"]["rewards_approver"] = {"tiers": tiers}
    return document


def tier(up_to: int | None, who: str, *also: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"default": who, "allowed": [who, *also]}
    if up_to is not None:
        entry["up_to_cents"] = up_to
    return entry


def referral(reward_cents: int, approver: str | None = None) -> dict[str, Any]:
    payload = json.loads((LOCAL_FILE.parent / "referral.json").read_text(encoding="utf-8"))
    payload["reward_cents"] = reward_cents
    if approver is not None:
        payload["rewards_approver"] = approver
    return dict(payload)


@pytest.mark.parametrize(
    ("reward_cents", "approver"),
    [(0, REWARDS_TEAM), (5_000, REWARDS_TEAM), (10_000, REWARDS_TEAM), (10_001, FINANCE_LEAD),
     (50_000, FINANCE_LEAD), (50_001, CFO), (100_000, CFO)],
)  # fmt: skip
def test_the_amount_picks_the_tier_whose_default_approves_it(reward_cents: int, approver: str) -> None:
    # Given the example directory's referral tiers: up to $100, up to $500, above
    # When a referral that names no approver is validated
    document = validate_input(WORKFLOWS["referral"], referral(reward_cents))

    # Then the tier of its amount (bounds inclusive) chose the approver
    assert document["rewards_approver"] == approver


def test_a_50_dollar_and_a_1000_dollar_credit_go_to_different_approvers() -> None:
    small = validate_input(WORKFLOWS["referral"], referral(5_000))
    large = validate_input(WORKFLOWS["referral"], referral(100_000))
    assert (small["rewards_approver"], large["rewards_approver"]) == (REWARDS_TEAM, CFO)


def test_naming_a_lower_tier_approver_for_a_high_amount_is_refused() -> None:
    # Given a $1,000 credit that names the rewards team (the $100 tier)
    # When it is validated / Then it is refused on the approver field, saying the amount matters
    with pytest.raises(InputRejected) as refused:
        validate_input(WORKFLOWS["referral"], referral(100_000, REWARDS_TEAM))
    (error,) = refused.value.errors
    assert error["field"] == "rewards_approver"
    assert "at this amount" in error["message"]


def test_a_higher_tier_approver_may_approve_less_only_if_that_tier_lists_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given tiers where the CFO is also allowed (not default) for small credits
    tiers = [tier(10_000, REWARDS_TEAM, CFO), tier(50_000, FINANCE_LEAD), tier(None, CFO)]
    monkeypatch.setenv("STEPWISE_APPROVERS", json.dumps(with_reward_tiers(tiers)))
    from functions.shared.config import settings

    settings.cache_clear()
    try:
        # Then the CFO may be named for $50, but the finance lead may not be named for $50
        assert validate_input(WORKFLOWS["referral"], referral(5_000, CFO))["rewards_approver"] == CFO
        with pytest.raises(InputRejected):
            validate_input(WORKFLOWS["referral"], referral(5_000, FINANCE_LEAD))
    finally:
        settings.cache_clear()


def test_the_approval_check_of_a_step_is_tier_aware_too() -> None:
    # Given the example directory
    directory = ApproverDirectory.model_validate(example_directory())

    # Then for a $1,000 credit only the CFO passes; without an amount any tier's approver does
    assert directory.allows("referral", CFO, amount_cents=100_000)
    assert not directory.allows("referral", REWARDS_TEAM, amount_cents=100_000)
    assert directory.allows("referral", REWARDS_TEAM)
    # ... and each tier names whom it escalates to
    assert directory.escalation("referral", REWARDS_TEAM) == (FINANCE_LEAD,)
    assert directory.escalation("referral", FINANCE_LEAD) == (CFO,)
    assert directory.escalation("referral", CFO) == ()


@pytest.mark.parametrize(
    ("tiers", "says"),
    [
        ([tier(50_000, FINANCE_LEAD), tier(10_000, REWARDS_TEAM), tier(None, CFO)], "sorted"),
        ([tier(10_000, REWARDS_TEAM), tier(10_000, FINANCE_LEAD), tier(None, CFO)], "sorted"),
        ([tier(10_000, REWARDS_TEAM), tier(50_000, FINANCE_LEAD)], "top tier"),
        ([tier(None, CFO), tier(10_000, REWARDS_TEAM)], "top tier"),
        ([tier(10_000, REWARDS_TEAM), tier(None, FINANCE_LEAD), tier(None, CFO)], "top tier"),
        ([{"up_to_cents": 10_000, "default": CFO, "allowed": [REWARDS_TEAM]}, tier(None, CFO)], "allowed"),
        ([{"up_to_cents": -1, "default": CFO, "allowed": [CFO]}, tier(None, CFO)], "greater than"),
    ],
    ids=[
        "unsorted",
        "overlapping",
        "no-top-tier",
        "top-tier-first",
        "two-top-tiers",
        "bad-default",
        "negative",
    ],
)
def test_tiers_must_be_sorted_non_overlapping_and_end_with_one_top_tier(
    tiers: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        ApproverDirectory.model_validate(with_reward_tiers(tiers))


def test_tiers_only_where_the_approval_moves_an_amount() -> None:
    # Given tiers on the sales approver, whose approval (an email) moves no money
    document = copy.deepcopy(example_directory())
    document["sales_outreach"]["approver_email"] = {"tiers": [tier(None, "sales-lead@acme-demo.com")]}

    # Then the directory is refused: there is no amount to pick a tier by
    with pytest.raises(ValidationError, match=r"sales_outreach\.approver_email has tiers but"):
        ApproverDirectory.model_validate(document)


def test_a_field_is_flat_or_tiered_not_both() -> None:
    entry = {**tier(None, CFO), "tiers": [tier(None, CFO)]}
    document = copy.deepcopy(example_directory())
    document["referral"]["rewards_approver"] = entry
    with pytest.raises(ValidationError, match="either tiers or default"):
        ApproverDirectory.model_validate(document)
