"""The approver directory read from SSM Parameter Store (issue #19), as a cloud function reads it.

A moto account holds one parameter per workflow, the way the stack writes them; the function's
settings name only the path. The first read goes to SSM, later ones come from Powertools' cache
until ``PARAMETER_MAX_AGE_S`` has passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from functions.shared.approvers import (
    APPROVER_FIELDS,
    LOCAL_FILE,
    PARAMETER_MAX_AGE_S,
    ApproverDirectory,
    DirectoryMissing,
    approver_directory,
    workflow_approvers,
)
from functions.shared.config import StepwiseSettings

PATH = "/stepwise/prod/approvers"
CLOUD = {
    "STEPWISE_STAGE": "prod",
    "STEPWISE_SENDER_EMAIL": "approvals@acme-demo.com",
    "STEPWISE_ESCALATION_APPROVER": "ops-lead@acme-demo.com",
    "STEPWISE_APPROVAL_LINK_BASE_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
    "STEPWISE_APPROVERS_PARAMETER_PATH": PATH,
}


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty moto SSM, a cloud function's environment, and Powertools' cache emptied around it."""
    for name, value in {**CLOUD, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STEPWISE_APPROVERS", raising=False)
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # values and providers: a provider's client outlives a moto account
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def write_directory(ssm: Any, document: dict[str, Any]) -> None:
    for workflow, fields in document.items():
        ssm.put_parameter(Name=f"{PATH}/{workflow}", Type="String", Value=json.dumps(fields), Overwrite=True)


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
    return loaded


def test_a_cloud_function_reads_the_directory_from_one_parameter_per_workflow(ssm: Any) -> None:
    # Given the stage's directory in SSM, with a rewards desk of its own
    document = example()
    document["no_show"]["manager_email"] = {
        "default": "desk@acme-demo.com",
        "allowed": ["desk@acme-demo.com"],
    }
    write_directory(ssm, document)

    # When the API's view (every workflow) and one step's view (its own workflow) are read
    directory = approver_directory(StepwiseSettings())
    own = workflow_approvers(StepwiseSettings(), "no_show")

    # Then both are what SSM holds
    assert directory == ApproverDirectory.model_validate(document)
    assert own.choice("manager_email").default == "desk@acme-demo.com"


def test_a_step_reads_only_its_own_workflow_s_parameter(ssm: Any) -> None:
    # Given only the referral parameter exists (a role granted that one alone sees no more)
    ssm.put_parameter(Name=f"{PATH}/referral", Type="String", Value=json.dumps(example()["referral"]))

    # When the referral step reads its approvers
    own = workflow_approvers(StepwiseSettings(), "referral")

    # Then it needs nothing else, and the whole directory (the API's view) fails closed instead
    assert own.allows("cfo@acme-demo.com", amount_cents=100_000)
    with pytest.raises(DirectoryMissing, match="ParameterNotFound"):
        approver_directory(StepwiseSettings())


def test_a_change_in_ssm_reaches_a_warm_function_after_the_cache_age_without_a_deploy(
    ssm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm function that has read the no_show approvers once
    write_directory(ssm, example())
    before = workflow_approvers(StepwiseSettings(), "no_show").choice("manager_email").default
    # When an operator changes the parameter
    changed = {
        "manager_email": {"default": "night-desk@acme-demo.com", "allowed": ["night-desk@acme-demo.com"]}
    }
    ssm.put_parameter(Name=f"{PATH}/no_show", Type="String", Value=json.dumps(changed), Overwrite=True)

    # Then within the cache age the function still answers from its cache (no SSM call per request)
    assert workflow_approvers(StepwiseSettings(), "no_show").choice("manager_email").default == before
    # ... and once the cache age has passed it reads the new value
    from datetime import datetime, timedelta

    later = datetime.now() + timedelta(seconds=PARAMETER_MAX_AGE_S + 1)
    monkeypatch.setattr(parameters.base, "datetime", _FrozenDatetime(later))
    assert workflow_approvers(StepwiseSettings(), "no_show").choice("manager_email").default == (
        "night-desk@acme-demo.com"
    )


def test_a_missing_parameter_fails_closed_naming_it(ssm: Any) -> None:
    with pytest.raises(DirectoryMissing, match=f"{PATH}/law_firm_ops"):
        workflow_approvers(StepwiseSettings(), "law_firm_ops")


def test_an_invalid_parameter_fails_closed_naming_the_problem(ssm: Any) -> None:
    bad = {"manager_email": {"default": "x@acme-demo.com", "allowed": ["y@acme-demo.com"]}}
    ssm.put_parameter(Name=f"{PATH}/no_show", Type="String", Value=json.dumps(bad))
    with pytest.raises(DirectoryMissing, match="must be one of allowed"):
        workflow_approvers(StepwiseSettings(), "no_show")


def test_a_workflow_without_staff_approvers_reads_nothing(ssm: Any) -> None:
    assert "no_show_reply" not in APPROVER_FIELDS
    assert workflow_approvers(StepwiseSettings(), "no_show_reply").addresses() == set()


class _FrozenDatetime:
    """``datetime`` as Powertools' cache sees it, moved to ``at`` (``now()`` only is replaced)."""

    def __init__(self, at: Any) -> None:
        self._at = at

    def now(self, *args: Any, **kwargs: Any) -> Any:
        return self._at

    def __getattr__(self, name: str) -> Any:
        from datetime import datetime

        return getattr(datetime, name)
