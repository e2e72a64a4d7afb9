"""StepwiseSettings fail closed in the cloud: a laptop default outside stage local is a startup error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.registry import WORKFLOWS, Resource
from functions.shared.config import StepwiseSettings, needed_by

CLOUD = {
    "STEPWISE_STAGE": "prod",
    "STEPWISE_SENDER_EMAIL": "approvals@acme-demo.com",
    "STEPWISE_ESCALATION_APPROVER": "ops-lead@acme-demo.com",
    "STEPWISE_APPROVAL_LINK_BASE_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
}


@pytest.fixture
def cloud_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in CLOUD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_the_local_stage_keeps_the_laptop_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no STEPWISE_* variables (the local runtime)
    for name in CLOUD:
        monkeypatch.delenv(name, raising=False)

    # When / Then the defaults are accepted
    config = StepwiseSettings()
    assert (config.stage, config.approval_link_base_url) == ("local", "http://localhost:8000")


def test_a_cloud_stage_with_real_values_starts(cloud_env: pytest.MonkeyPatch) -> None:
    assert StepwiseSettings().escalation_approver == "ops-lead@acme-demo.com"


@pytest.mark.parametrize(
    ("variable", "value", "context_key"),
    [
        ("STEPWISE_SENDER_EMAIL", "outreach@stepwise.example", "senderEmail"),
        ("STEPWISE_ESCALATION_APPROVER", "sales-manager@stepwise.example", "escalationApprover"),
        ("STEPWISE_ESCALATION_APPROVER", "boss@example.com", "escalationApprover"),
        ("STEPWISE_APPROVAL_LINK_BASE_URL", "http://localhost:8000", "approvalLinkBaseUrl"),
        ("STEPWISE_APPROVAL_LINK_BASE_URL", "http://127.0.0.1:8000/", "approvalLinkBaseUrl"),
    ],
)
def test_a_cloud_stage_refuses_a_laptop_value_naming_the_variable_and_the_context_key(
    cloud_env: pytest.MonkeyPatch, variable: str, value: str, context_key: str
) -> None:
    # Given one setting left at a value only a laptop can use
    cloud_env.setenv(variable, value)

    # When / Then the settings do not validate, and the error says which variable and where to set it
    with pytest.raises(ValidationError) as refused:
        StepwiseSettings()
    assert variable in str(refused.value)
    assert f"-c {context_key}=" in str(refused.value)


def test_a_missing_variable_is_refused_too_as_its_default_is_a_laptop_value(
    cloud_env: pytest.MonkeyPatch,
) -> None:
    # Given a cloud function whose template forgot the escalation approver
    cloud_env.delenv("STEPWISE_ESCALATION_APPROVER")

    # When / Then the default does not silently stand in
    with pytest.raises(ValidationError, match="STEPWISE_ESCALATION_APPROVER"):
        StepwiseSettings()


def test_the_variables_a_function_needs_are_derived_from_the_field_annotations() -> None:
    # Given the request_approval step of sales_outreach (signs links, sends mail, reads drafts)
    step = WORKFLOWS["sales_outreach"].step("request_approval")
    assert Resource.APPROVAL_LINKS in step.resources

    # When its variables are derived
    needed = needed_by(frozenset(str(r) for r in step.resources), step=True)

    # Then they are its resources' plus what every function and every step reads, and nothing else
    assert needed == {
        "STEPWISE_APPROVALS_TABLE",
        "STEPWISE_APPROVALS_KEY_ALIAS",
        "STEPWISE_APPROVAL_SIGNING_SECRET_ARN",
        "STEPWISE_APPROVAL_LINK_BASE_URL",
        "STEPWISE_SENDER_EMAIL",
        "STEPWISE_FILES_BUCKET",
        "STEPWISE_AUDIT_BUCKET",  # every step: large log payloads
        "STEPWISE_STAGE",
        "STEPWISE_ESCALATION_APPROVER",
        "STEPWISE_APPROVERS_PARAMETER_PATH",  # it asks a staff approver: the directory in SSM
    }
    # ... and a non-step (API, sweeper) does not get the audit bucket for log payloads
    assert "STEPWISE_AUDIT_BUCKET" not in needed_by(frozenset(), step=False)
