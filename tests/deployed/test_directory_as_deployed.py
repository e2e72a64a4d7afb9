"""The approver directory as deployed: SSM parameters from the template, read under each role's grants.

Each call below is made with a deployed function's own credentials (its role's session, from its
execution environment) against moto's endpoint, where ``local/iam_enforcement.py`` names the
parameter ARN of every SSM request: a role reads exactly the parameters its policy names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable

import pytest

from functions.registry import API_HANDLER, SWEEPER_HANDLER
from functions.shared.approvers import APPROVER_FIELDS, LOCAL_FILE, ApproverDirectory
from functions.shared.aws import client
from local.runtime import LocalRuntime

pytestmark = pytest.mark.slow

PATH = "/stepwise/dev/approvers"  # local/assembly.py synthesizes stage "dev"


#: Runs in a process of its own, as a function does: the test process's in-process moto would
#: answer instead of moto's endpoint, where each role's policies are evaluated.
_PROBE = """
import json, sys
import boto3
from botocore.exceptions import ClientError

ssm = boto3.client("ssm")
answers = {}
for name in json.loads(sys.argv[1]):
    try:
        ssm.get_parameter(Name=name)
        answers[name] = "read"
    except ClientError as exc:  # moto's endpoint answers SSM's JSON protocol with IAM's XML error
        code = exc.response["Error"]["Code"]
        answers[name] = "AccessDenied" if "<Code>AccessDenied</Code>" in str(exc) else code
print(json.dumps(answers))
"""


def reads_as(runtime: LocalRuntime, handler: str, workflows: Iterable[str]) -> dict[str, str]:
    """workflow → "read" or the error code, for ``get_parameter`` signed as the deployed ``handler``."""
    function = runtime.deployment.function(handler)
    variables = runtime.deployment.lambdas.environments[function.name].variables
    names = {w: f"{PATH}/{w}" for w in workflows}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in variables.items() if k.startswith("AWS_")})
    probe = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _PROBE, json.dumps(list(names.values()))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answers = json.loads(probe.stdout)
    return {w: answers[name] for w, name in names.items()}


def test_the_deployed_account_holds_the_directory_the_template_declares(deployed: LocalRuntime) -> None:
    # Given the synthesized directory (examples/approvers.json, the as-deployed context's)
    expected = ApproverDirectory.model_validate_json(LOCAL_FILE.read_text(encoding="utf-8"))

    # When the parameters are read back from the account (as the operator would, unchecked)
    ssm = client("ssm")
    stored = {
        w: json.loads(ssm.get_parameter(Name=f"{PATH}/{w}")["Parameter"]["Value"]) for w in APPROVER_FIELDS
    }

    # Then they are the directory, one per workflow, and the functions are told only the path
    assert ApproverDirectory.model_validate(stored) == expected
    api = deployed.deployment.function(API_HANDLER)
    assert api.environment["STEPWISE_APPROVERS_PARAMETER_PATH"] == PATH
    assert "STEPWISE_APPROVERS" not in api.environment


def test_an_approval_step_reads_its_own_workflow_s_approvers_and_no_other(deployed: LocalRuntime) -> None:
    # Given the referral reward approval's role, when it reads each workflow's parameter
    answers = reads_as(deployed, "functions.referral.reward_request_approval.handler", APPROVER_FIELDS)

    # Then it may read referral's and is refused every other workflow's
    assert answers == {w: "read" if w == "referral" else "AccessDenied" for w in APPROVER_FIELDS}


def test_a_step_that_asks_no_staff_approver_reads_no_directory(deployed: LocalRuntime) -> None:
    answers = reads_as(deployed, "functions.referral.grant_credit.handler", APPROVER_FIELDS)
    assert set(answers.values()) == {"AccessDenied"}


@pytest.mark.parametrize("handler", [API_HANDLER, SWEEPER_HANDLER])
def test_the_api_and_the_sweeper_read_every_workflow_s_approvers(
    deployed: LocalRuntime, handler: str
) -> None:
    assert set(reads_as(deployed, handler, APPROVER_FIELDS).values()) == {"read"}
