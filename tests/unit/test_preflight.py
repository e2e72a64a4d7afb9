"""``python -m local preflight`` against moto: every check with nothing set up, then with everything set up.

What moto 5.2.5 models and what it does not (each test below says which side it is on):
- SSM parameters, CloudFormation stacks of SSM parameters and Lambda functions, IAM roles, API Gateway
  ``get_account``/``update_account`` (``cloudwatchRoleArn``), SES v1 identities (verified at once),
  Secrets Manager: real calls on moto.
- SESv2 ``GetAccount`` (sandbox status) raises ``NotImplementedError`` on moto: the check reports the
  status as unknown; the sandbox and production answers are fed in with botocore's ``Stubber``.
- CloudFormation cannot create ``AWS::SecretsManager::Secret`` on moto (it warns and lists an empty
  resource), so the deployed stack is a stack holding a Lambda function whose environment names the
  two secrets (the way CDK wires them, infra/storage.py), with the secrets created in Secrets Manager
  directly; the stack-resource path (logical id ``Storage<construct id>…``) is fed a
  ``ListStackResources`` answer by ``Stubber``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.shared.approvers import APPROVER_FIELDS
from local import preflight
from local.cli import main
from local.preflight import Check, Options, Target

REGION = "us-east-1"
ACCOUNT = "123456789012"
SENDER = "outreach@acme-freight.com"
ESCALATION = "sales-manager@acme-freight.com"
API_KEY = "sk-ant-api03-xxxx"
SIGNING_KEY = "k" * 64
TARGET = Target(account=ACCOUNT, region=REGION)
#: A directory at the same company: every address in it must be deliverable (the sandbox: verified).
DIRECTORY = {
    w: {f: {"default": ESCALATION, "allowed": [ESCALATION]} for f in fields}
    for w, fields in APPROVER_FIELDS.items()
}
GOOD_CONTEXT = {
    "stage": "dev",
    "senderEmail": SENDER,
    "escalationApprover": ESCALATION,
    "approvers": json.dumps(DIRECTORY),
}
#: cdk.json as it ships: the placeholder sender, no escalation approver.
SHIPPED_CONTEXT = {"stage": "dev", "senderEmail": "outreach@stepwise.example"}


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty moto account; a ``boto3.Session`` as the command builds it from the default chain."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def bootstrap(session: Any, version: str = "28") -> None:
    """What ``cdk bootstrap`` leaves: the CDKToolkit stack owning the version parameter."""
    template = {
        "Resources": {
            "CdkBootstrapVersion": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": preflight.BOOTSTRAP_PARAMETER, "Type": "String", "Value": version},
            }
        }
    }
    session.client("cloudformation").create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(template))


def set_apigateway_role(session: Any) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = session.client("iam").create_role(
        RoleName=preflight.APIGATEWAY_LOGS_ROLE, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    session.client("apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}]
    )
    return str(arn)


def verify(session: Any, *addresses: str) -> None:
    for address in addresses:  # moto verifies at once; AWS waits for the emailed link
        session.client("ses").verify_email_identity(EmailAddress=address)


def deploy_stack(
    session: Any, *, anthropic: str | None = json.dumps({"api_key": API_KEY}), signing: str = SIGNING_KEY
) -> dict[str, str]:
    """``Stepwise-dev`` as far as the checks see it: a function whose environment names both secrets.

    moto's CloudFormation cannot create ``AWS::SecretsManager::Secret``, so the secrets are created
    in Secrets Manager directly and the stack holds only the function. ``anthropic=None``: no value.
    """
    secrets = session.client("secretsmanager")
    anthropic_arn = secrets.create_secret(
        Name="StorageAnthropicApiKey1A2B3C4D-x",
        **({"SecretString": anthropic} if anthropic is not None else {}),
    )["ARN"]
    signing_arn = secrets.create_secret(Name="StorageApprovalSigningSecret-x", SecretString=signing)["ARN"]
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = session.client("iam").create_role(
        RoleName="api-fn", AssumeRolePolicyDocument=json.dumps(lambda_trust)
    )
    environment = {
        "STEPWISE_ANTHROPIC_SECRET_ARN": anthropic_arn,
        "STEPWISE_APPROVAL_SIGNING_SECRET_ARN": signing_arn,
    }
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "functions.api.app.handler",
            "Role": role["Role"]["Arn"],
            "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
            "Environment": {"Variables": environment},
        },
    }
    session.client("cloudformation").create_stack(
        StackName="Stepwise-dev", TemplateBody=json.dumps({"Resources": {"ApiApiFunction1234": function}})
    )
    return {"anthropic": anthropic_arn, "signing": signing_arn}


def set_up_everything(session: Any) -> None:
    bootstrap(session)
    set_apigateway_role(session)
    verify(session, SENDER, ESCALATION)
    deploy_stack(session)


def run(session: Any, context: dict[str, str], recipients: tuple[str, ...] = ()) -> dict[str, Check]:
    checks = preflight.run_checks(session, Options(stage="dev", context=context, recipients=recipients))
    by_name = {check.name.split(" ", 1)[0] + " " + check.name.split(" ", 2)[1]: check for check in checks}
    assert len(by_name) == len(checks), [c.name for c in checks]
    return by_name


def statuses(checks: dict[str, Check]) -> dict[str, str]:
    return {name: check.status for name, check in checks.items()}


# --- the two states ----------------------------------------------------------------------------------
def test_with_nothing_set_up_every_check_fails_with_its_fix_and_the_secrets_wait_for_the_deploy(
    session: Any,
) -> None:
    # Given an empty account and cdk.json's shipped context
    # When the checks run
    checks = run(session, SHIPPED_CONTEXT)

    # Then each account prerequisite FAILs, and what the first deploy creates is a warning
    assert statuses(checks) == {
        "AWS credentials": "ok",
        "context senderEmail": "FAIL",
        "context escalationApprover": "FAIL",
        "context approvalLinkBaseUrl": "ok",
        "cdk bootstrap": "FAIL",
        "API Gateway": "FAIL",
        "SES sender": "warn",
        "SES sandbox": "ok",  # no recipient configured yet (escalationApprover FAILs above)
        "approver directory": "FAIL",  # no "approvers" in the shipped context
        "AnthropicApiKey secret": "warn",
        "ApprovalSigningSecret secret": "warn",
    }
    assert checks["cdk bootstrap"].fix == f"npx aws-cdk@2 bootstrap aws://{ACCOUNT}/{REGION}"
    assert "placeholder" in checks["context senderEmail"].detail
    assert "-c escalationApprover=" in checks["context escalationApprover"].fix
    role_fix = checks["API Gateway"].fix
    assert "aws iam create-role --role-name APIGatewayCloudWatchLogs" in role_fix
    assert '"Service":"apigateway.amazonaws.com"' in role_fix
    assert "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs" in role_fix
    assert (
        "aws apigateway update-account --patch-operations "
        f"op=replace,path=/cloudwatchRoleArn,value=arn:aws:iam::{ACCOUNT}:role/APIGatewayCloudWatchLogs"
    ) in role_fix
    assert (
        checks["AnthropicApiKey secret"].detail
        == "Stepwise-dev not deployed yet, run after the first cdk deploy"
    )
    assert "aws secretsmanager put-secret-value --secret-id" in checks["AnthropicApiKey secret"].fix
    assert all(check.fix for check in checks.values() if check.status != "ok")


def test_with_everything_set_up_every_check_is_ok(session: Any) -> None:
    # Given bootstrap, the API Gateway role, verified identities and the deployed stack's secrets
    set_up_everything(session)

    # When the checks run with a real sender and escalation approver
    checks = run(session, GOOD_CONTEXT)

    # Then all are ok (the sandbox status is unknown on moto: the recipients are verified either way)
    assert set(statuses(checks).values()) == {"ok"}, [c.line() for c in checks.values() if c.status != "ok"]
    assert "GetAccount not implemented" in checks["SES sandbox"].detail
    assert checks["AnthropicApiKey secret"].detail == "holds an Anthropic key (sk-ant-…, 17 characters)"
    assert checks["cdk bootstrap"].detail == "version 28 (>= 6), CDKToolkit CREATE_COMPLETE"


def test_the_command_exits_1_on_any_fail_and_0_when_all_pass(session: Any) -> None:
    # Given an empty account, when the command runs, then it exits 1 with one line per check
    out = io.StringIO()
    assert main(["preflight", "--region", REGION], out=out) == 1
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines[:-1]].count("FAIL") >= 3
    assert lines[-1].startswith("preflight Stepwise-dev: ")

    # Given everything set up, when it runs with the context on the command line, then it exits 0
    set_up_everything(session)
    out = io.StringIO()
    context = ["-c", f"senderEmail={SENDER}", "--context", f"escalationApprover={ESCALATION}"]
    context += ["-c", f"approvers={json.dumps(DIRECTORY)}"]
    assert main(["preflight", "--region", REGION, "--stage", "dev", *context], out=out) == 0, out.getvalue()
    assert [line.split()[0] for line in out.getvalue().splitlines()[:-1]] == ["ok"] * 11
    assert out.getvalue().splitlines()[-1] == "preflight Stepwise-dev: 11 ok, 0 warn, 0 FAIL"


def test_the_secret_values_never_appear_in_the_output(session: Any) -> None:
    # Given a good key, and then a key that is not an Anthropic one (e.g. CloudFormation's generated one)
    set_up_everything(session)
    out = io.StringIO()
    main(["preflight", "--region", REGION, "-c", f"senderEmail={SENDER}"], out=out)
    other = "Zq8#generated-by-cloudformation-32"
    arn = deploy_stack_secret_only(session, other)
    wrong = preflight.check_anthropic_secret(
        session.client("secretsmanager"), arn, TARGET, stack="Stepwise-dev"
    )

    # Then neither value is printed, only a prefix and a length
    text = out.getvalue() + wrong.line()
    assert API_KEY not in text
    assert API_KEY.removeprefix("sk-ant-") not in text
    assert SIGNING_KEY not in text
    assert other not in text
    assert other[:6] not in text
    assert wrong.status == "FAIL"
    assert f"{len(other)} characters, no sk-ant- prefix" in wrong.detail


def deploy_stack_secret_only(session: Any, value: str) -> str:
    return str(session.client("secretsmanager").create_secret(Name="other", SecretString=value)["ARN"])


# --- single checks ----------------------------------------------------------------------------------
def test_an_old_bootstrap_version_fails(session: Any) -> None:
    bootstrap(session, version="5")
    check = preflight.check_bootstrap(session.client("ssm"), session.client("cloudformation"), TARGET)
    assert (check.status, check.detail) == ("FAIL", "version 5; aws-cdk-lib 2.275 needs >= 6")


def test_a_version_parameter_without_the_toolkit_stack_is_a_warning(session: Any) -> None:
    session.client("ssm").put_parameter(Name=preflight.BOOTSTRAP_PARAMETER, Value="28", Type="String")
    check = preflight.check_bootstrap(session.client("ssm"), session.client("cloudformation"), TARGET)
    assert check.status == "warn"
    assert "no CDKToolkit stack" in check.detail


def test_a_cloudwatch_role_arn_naming_a_deleted_role_fails(session: Any) -> None:
    set_apigateway_role(session)
    session.client("iam").delete_role(RoleName=preflight.APIGATEWAY_LOGS_ROLE)
    check = preflight.check_apigateway_role(session.client("apigateway"), session.client("iam"), TARGET)
    assert check.status == "FAIL"
    assert check.detail.endswith("does not exist in IAM")
    assert "iam create-role --role-name APIGatewayCloudWatchLogs" in check.fix


def test_a_role_not_trusted_by_api_gateway_fails(session: Any) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
    arn = session.client("iam").create_role(RoleName="wrong", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    session.client("apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}]
    )
    check = preflight.check_apigateway_role(session.client("apigateway"), session.client("iam"), TARGET)
    assert check.status == "FAIL"
    assert "aws iam update-assume-role-policy --role-name wrong" in check.fix


def test_the_sender_without_an_identity_fails_once_the_stack_is_deployed(session: Any) -> None:
    check = preflight.check_ses_sender(session.client("ses"), SENDER, TARGET, deployed=True)
    assert check.status == "FAIL"
    assert check.fix == f"aws sesv2 create-email-identity --email-identity {SENDER} --region {REGION}"


def test_a_verified_domain_verifies_its_addresses(session: Any) -> None:
    session.client("ses").verify_domain_identity(Domain="acme-freight.com")
    assert preflight.verification_statuses(session.client("ses"), [SENDER]) == {SENDER: "Success"}


def test_in_the_sandbox_each_unverified_recipient_is_named_with_its_fix(session: Any) -> None:
    # Given the escalation approver verified and an approver from the inputs not
    verify(session, ESCALATION)
    approver = "sales-lead@acme-freight.com"

    # When the recipients are checked in the sandbox
    check = preflight.check_ses_recipients(
        session.client("ses"), [ESCALATION, approver], TARGET, in_sandbox=True
    )

    # Then the unverified one is named, with the command and the production-access alternative
    assert check.status == "FAIL"
    assert check.detail == f"in the SES sandbox, unverified: {approver}"
    assert f"aws sesv2 create-email-identity --email-identity {approver}" in check.fix
    assert "Request production access" in check.fix
    assert ESCALATION not in check.fix


def test_with_production_access_any_recipient_is_ok(session: Any) -> None:
    check = preflight.check_ses_recipients(session.client("ses"), ["x@acme.com"], TARGET, in_sandbox=False)
    assert check.status == "ok"


def test_a_pending_recipient_gets_the_link_resent_not_a_second_identity(session: Any) -> None:
    ses = session.client("ses")
    with Stubber(ses) as stub:  # moto verifies at once: "Pending" is AWS's state until the click
        stub.add_response(
            "get_identity_verification_attributes",
            {"VerificationAttributes": {ESCALATION: {"VerificationStatus": "Pending"}}},
        )
        check = preflight.check_ses_recipients(ses, [ESCALATION], TARGET, in_sandbox=True)
    assert check.status == "FAIL"
    assert check.fix.startswith(
        f"aws ses verify-email-identity --email-address {ESCALATION} --region {REGION}"
    )


def test_the_sandbox_status_comes_from_sesv2_get_account(session: Any) -> None:
    # moto 5.2.5 has no SESv2 GetAccount: unknown, and said so
    assert preflight.ses_sandbox(session.client("sesv2")) == (None, "GetAccount not implemented")
    # AWS answers it: fed in with Stubber, in the response shape botocore validates
    for production, in_sandbox in ((False, True), (True, False)):
        sesv2 = boto3.client("sesv2", region_name=REGION)
        with Stubber(sesv2) as stub:
            stub.add_response("get_account", {"ProductionAccessEnabled": production})
            assert preflight.ses_sandbox(sesv2) == (in_sandbox, "")


def test_a_placeholder_or_missing_anthropic_key_fails(session: Any) -> None:
    arns = deploy_stack(session, anthropic=json.dumps({"api_key": ""}))
    secrets = session.client("secretsmanager")
    empty = preflight.check_anthropic_secret(secrets, arns["anthropic"], TARGET, stack="Stepwise-dev")
    assert (empty.status, empty.detail) == ("FAIL", "empty or a placeholder (no api_key)")
    assert empty.fix.startswith(f"aws secretsmanager put-secret-value --secret-id {arns['anthropic']} ")

    no_value = secrets.create_secret(Name="no-value")["ARN"]
    check = preflight.check_anthropic_secret(secrets, no_value, TARGET, stack="Stepwise-dev")
    assert (check.status, check.detail) == ("FAIL", "the secret has no value")

    plain = secrets.create_secret(Name="plain", SecretString=API_KEY)["ARN"]  # a plain string works too
    assert preflight.check_anthropic_secret(secrets, plain, TARGET, stack="Stepwise-dev").status == "ok"


def test_an_empty_signing_secret_fails(session: Any) -> None:
    arns = deploy_stack(session, signing=" ")
    check = preflight.check_signing_secret(
        session.client("secretsmanager"), arns["signing"], TARGET, stack="Stepwise-dev"
    )
    assert check.status == "FAIL"
    assert "get-random-password --password-length 64" in check.fix


def test_the_secrets_are_found_by_logical_id_among_the_stack_resources(session: Any) -> None:
    """moto's CloudFormation cannot hold ``AWS::SecretsManager::Secret``: the listing is stubbed."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:StorageAnthropicApiKey1A2B3C4D-AbCdEf"
    signing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:StorageApprovalSigningSecret9F8E7D6C-GhIjKl"
    summaries = [
        (logical, physical, kind)
        for logical, physical, kind in (
            ("StorageAnthropicApiKey1A2B3C4D", arn, "AWS::SecretsManager::Secret"),
            ("StorageApprovalSigningSecret9F8E7D6C", signing, "AWS::SecretsManager::Secret"),
            ("StorageFilesBucket1234ABCD", "stepwise-dev-files", "AWS::S3::Bucket"),
        )
    ]
    answer = {
        "StackResourceSummaries": [
            {
                "LogicalResourceId": logical,
                "PhysicalResourceId": physical,
                "ResourceType": kind,
                "LastUpdatedTimestamp": datetime(2026, 1, 1, tzinfo=UTC),
                "ResourceStatus": "CREATE_COMPLETE",
            }
            for logical, physical, kind in summaries
        ]
    }
    with Stubber(cfn) as stub:
        stub.add_response("list_stack_resources", answer, {"StackName": "Stepwise-dev"})
        found = preflight.find_stack_secrets(cfn, session.client("lambda"), "Stepwise-dev")
    assert found == {"AnthropicApiKey": arn, "ApprovalSigningSecret": signing}


def test_context_values_are_read_from_cdk_json_with_overrides_on_top(tmp_path: Any) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"app": "x", "context": {"stage": "dev", "senderEmail": "a@b.co"}}))
    cdk_json.write_text(
        json.dumps({"app": "x", "context": {"stage": "dev", "senderEmail": "a@b.co", "approvers": DIRECTORY}})
    )
    context = preflight.load_context(cdk_json, ["senderEmail=c@d.co", "stage=prod"])
    assert context == {"stage": "prod", "senderEmail": "c@d.co", "approvers": json.dumps(DIRECTORY)}
    with pytest.raises(ValueError, match="key=value"):
        preflight.load_context(cdk_json, ["senderEmail"])


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("", "ok"),
        ("https://approvals.acme-freight.com/", "ok"),
        ("http://approvals.acme-freight.com/", "FAIL"),
        ("https://localhost:8000/", "FAIL"),
        ("https://approvals.stepwise.example/", "FAIL"),
    ],
)
def test_the_approval_link_base_url_is_optional_but_real_when_set(value: str, status: str) -> None:
    assert preflight.check_link_base_url({"approvalLinkBaseUrl": value}).status == status


@pytest.mark.parametrize(
    "address", ["sales@stepwise.example", "me@localhost", "a@example.com", "not-an-address"]
)
def test_placeholder_or_malformed_addresses_fail(address: str) -> None:
    check = preflight.check_email_context({"escalationApprover": address}, "escalationApprover", "escalation")
    assert check.status == "FAIL"


def test_a_rotated_signing_secret_is_checked_as_a_key_ring(session: Any) -> None:
    # Given the signing secret after a rotation (a key ring), and one whose ring is corrupt
    from functions.shared.link_keys import parse_ring

    ring = parse_ring("g" * 64).rotated(datetime(2026, 12, 1, tzinfo=UTC), timedelta(days=4))
    good = deploy_stack(session, signing=ring.to_secret_string())["signing"]
    secretsmanager = session.client("secretsmanager")

    # When the preflight checks it / Then it names the current key, never a key's value
    check = preflight.check_signing_secret(secretsmanager, good, TARGET, stack="Stepwise-dev")
    assert (check.status, check.detail) == ("ok", "key ring: current key k20261201000000, 2 key(s)")
    secretsmanager.put_secret_value(SecretId=good, SecretString='{"current": "k9", "keys": {}}')
    broken = preflight.check_signing_secret(secretsmanager, good, TARGET, stack="Stepwise-dev")
    assert broken.status == "FAIL"
    assert "rotate-secret" in broken.fix
