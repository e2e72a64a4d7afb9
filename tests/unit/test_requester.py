"""A requester never approves their own run (#19): at the start, and again where the link is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from functions.registry import ROOT, WORKFLOWS
from functions.shared import workflow_input
from functions.shared.approvals import Draft
from functions.shared.approvers import LOCAL_FILE, ApproverDirectory, ApproverNotAllowed
from functions.shared.requester import SelfApproval, approver_other_than, current_requester
from functions.shared.step_handler import _without_started_by
from functions.shared.workflow_input import InputRejected, validate_input
from local.runtime import LocalRuntime

OWNER = "rewards@acme-demo.com"
DEPUTY = "rewards-deputy@acme-demo.com"


def _referral() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    loaded.pop("rewards_approver", None)
    return loaded


@pytest.fixture
def two_rewards_approvers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory whose rewards default is OWNER, with DEPUTY allowed too."""
    document = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
    document["referral"]["rewards_approver"] = {"default": OWNER, "allowed": [OWNER, DEPUTY]}
    directory = ApproverDirectory.model_validate(document)
    monkeypatch.setattr(workflow_input, "approver_directory", lambda _config: directory)


def test_a_default_approver_who_is_the_requester_is_replaced_by_the_next_allowed_one(
    two_rewards_approvers: None,
) -> None:
    # Given a requester whose owner is the directory's default rewards approver
    # When their referral is validated
    document = validate_input(WORKFLOWS["referral"], _referral(), requester=OWNER.upper())

    # Then the deputy approves it instead (addresses compared without case)
    assert document["rewards_approver"] == DEPUTY
    # and anyone else keeps the default
    assert (
        validate_input(WORKFLOWS["referral"], _referral(), requester="ops@x.example")["rewards_approver"]
        == OWNER
    )


def test_a_requester_naming_themselves_is_refused_even_when_someone_else_could_approve(
    two_rewards_approvers: None,
) -> None:
    with pytest.raises(InputRejected) as refused:
        validate_input(WORKFLOWS["referral"], {**_referral(), "rewards_approver": OWNER}, requester=OWNER)
    assert [e["field"] for e in refused.value.errors] == ["rewards_approver"]
    # while naming the deputy is fine
    named = validate_input(
        WORKFLOWS["referral"], {**_referral(), "rewards_approver": DEPUTY}, requester=OWNER
    )
    assert named["rewards_approver"] == DEPUTY


def test_without_anyone_else_allowed_the_start_is_refused() -> None:
    with pytest.raises(SelfApproval, match="nobody else"):
        approver_other_than(OWNER, chosen=OWNER, allowed=[OWNER], named=False)
    # and without a requester (the CLI, in-process runs) nothing changes
    assert approver_other_than(None, chosen=OWNER, allowed=[OWNER], named=True) == OWNER


def test_the_step_handler_takes_started_by_out_of_the_payload_and_keeps_its_owner() -> None:
    event: dict[str, Any] = {
        "payload": {"lead_id": "L-1", "startedBy": {"client": "c", "owner": OWNER}},
        "state": "S",
    }
    cleaned, owner = _without_started_by(event)
    assert cleaned["payload"] == {"lead_id": "L-1"}
    assert owner == OWNER
    assert event["payload"]["startedBy"]  # the event itself is left as it was
    assert _without_started_by({"payload": {"lead_id": "L-1"}}) == ({"payload": {"lead_id": "L-1"}}, None)


def test_no_approval_link_goes_to_the_requester_whatever_reached_the_step(runtime: LocalRuntime) -> None:
    # Given a step working for a run that the sales lead's own client started
    service = runtime.approvals()
    token = current_requester.set("sales-lead@acme-demo.com")
    try:
        # When it asks that same person to approve, Then nothing is stored or sent
        with pytest.raises(ApproverNotAllowed, match="cannot approve"):
            service.create(
                execution="run-1",
                workflow="sales_outreach",
                state="RequestApproval",
                approver="sales-lead@acme-demo.com",
                action="send",
                draft=Draft(subject="s", body_key="k", body_sha256="0" * 64),
                task_token=SecretStr("token"),
            )
    finally:
        current_requester.reset(token)
    assert list(service.store.for_execution("run-1")) == []
    assert runtime.outbox() == []
