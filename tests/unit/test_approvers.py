"""The approver directory (issue #19): from STEPWISE_APPROVERS, the example file locally, else nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from functions.shared.approvers import (
    LOCAL_FILE,
    ApproverDirectory,
    DirectoryMissing,
    approver_directory,
)
from functions.shared.config import StepwiseSettings

CLOUD = {
    "STEPWISE_STAGE": "prod",
    "STEPWISE_SENDER_EMAIL": "approvals@acme-demo.com",
    "STEPWISE_ESCALATION_APPROVER": "ops-lead@acme-demo.com",
    "STEPWISE_APPROVAL_LINK_BASE_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
}


def cloud_settings(monkeypatch: pytest.MonkeyPatch, approvers: str | None) -> StepwiseSettings:
    """A cloud function's settings, as its template environment gives them."""
    for name, value in CLOUD.items():
        monkeypatch.setenv(name, value)
    if approvers is None:
        monkeypatch.delenv("STEPWISE_APPROVERS", raising=False)
    else:
        monkeypatch.setenv("STEPWISE_APPROVERS", approvers)
    return StepwiseSettings()


def local_directory() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
    return loaded


def test_the_environment_variable_is_the_directory_in_a_cloud_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cloud stage whose STEPWISE_APPROVERS names another rewards approver
    document = local_directory()
    document["referral"]["rewards_approver"] = {
        "default": "Rewards-Desk@Acme-Demo.com",
        "allowed": ["rewards-desk@acme-demo.com", "cfo@acme-demo.com"],
    }
    config = cloud_settings(monkeypatch, json.dumps(document))

    # When the directory is loaded
    directory = approver_directory(config)

    # Then it is that one (addresses normalised), not the example file
    assert directory.choice("referral", "rewards_approver").default == "rewards-desk@acme-demo.com"
    assert directory.allows("referral", "cfo@acme-demo.com")
    assert not directory.allows("referral", "rewards@acme-demo.com")


def test_the_local_stage_falls_back_to_the_example_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPWISE_STAGE", raising=False)
    monkeypatch.delenv("STEPWISE_APPROVERS", raising=False)
    directory = approver_directory(StepwiseSettings())
    assert directory == ApproverDirectory.model_validate(local_directory())
    assert directory.choice("law_firm_ops", "partner_email").default == "priya.raman@acme-demo.com"


def test_a_cloud_stage_without_a_directory_fails_closed_naming_the_variable_and_the_context_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = cloud_settings(monkeypatch, None)
    with pytest.raises(DirectoryMissing) as refused:
        approver_directory(config)
    assert "STEPWISE_APPROVERS" in str(refused.value)
    assert "'approvers'" in str(refused.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"referral": {}}, "missing referral.rewards_approver"),
        (
            {"billing": {"approver": {"default": "a@acme-demo.com", "allowed": ["a@acme-demo.com"]}}},
            "unknown",
        ),
        (
            {"no_show": {"manager_email": {"default": "x@acme-demo.com", "allowed": ["y@acme-demo.com"]}}},
            "must be one of allowed",
        ),
    ],
)
def test_a_directory_that_does_not_cover_exactly_the_approver_fields_is_refused(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        ApproverDirectory.model_validate({**local_directory(), **change})
