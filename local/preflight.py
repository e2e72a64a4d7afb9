"""``python -m local preflight``: what ``cdk deploy`` does not check, against the real account.

A deploy can succeed and still leave Stepwise unable to work: API Gateway refuses a stage with
execution logging until the account has a CloudWatch role, SES delivers nothing from an unverified
sender (and, in the sandbox, to an unverified recipient), the Anthropic secret holds the password
CloudFormation generated instead of a key, the context still names ``*.stepwise.example``, or an
approver in the directory is one SES will not deliver to (``local/preflight_approvers.py``).
Each check here takes boto3 clients (or the cdk context) and returns one ``Check``; the command
prints one line per check and exits 1 if any FAILs. Nothing here imports moto: it runs on ordinary
credentials (the boto3 default chain, ``--profile``, ``--region``). Secret values are never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from functions.registry import ROOT
from functions.shared.config import is_local_url, is_placeholder_email
from functions.shared.llm.factory import api_key_from_secret_string
from infra.constants import (
    ANTHROPIC_SECRET_ID,
    APPROVAL_LINK_BASE_URL_CONTEXT_KEY,
    APPROVAL_SIGNING_SECRET_ID,
    DEFAULT_SENDER_EMAIL,
    ESCALATION_APPROVER_CONTEXT_KEY,
    SENDER_EMAIL_CONTEXT_KEY,
    STORAGE_ID,
)

Status = Literal["ok", "FAIL", "warn"]
#: A boto3 client (boto3 ships no type information here).
Client = Any

BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_PARAMETER = f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"
#: aws-cdk-lib 2.275.0's DefaultStackSynthesizer: ``MIN_BOOTSTRAP_STACK_VERSION=6`` (the
#: CheckBootstrapVersion rule of every synthesized template refuses anything older).
MIN_BOOTSTRAP_VERSION = 6
TOOLKIT_STACK = "CDKToolkit"
APIGATEWAY_SERVICE = "apigateway.amazonaws.com"
APIGATEWAY_LOGS_ROLE = "APIGatewayCloudWatchLogs"
APIGATEWAY_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
ANTHROPIC_KEY_PREFIX = "sk-ant-"
#: The functions' environment names the two secrets (infra/storage.py, ``Storage.environment``).
SECRET_ENV = {
    ANTHROPIC_SECRET_ID: "STEPWISE_ANTHROPIC_SECRET_ARN",
    APPROVAL_SIGNING_SECRET_ID: "STEPWISE_APPROVAL_SIGNING_SECRET_ARN",
}
#: RFC 2606/6761 names and the repository's own placeholders: never a real mailbox or host.
_HEALTHY_STACK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}


@dataclass(frozen=True)
class Check:
    """One line of the report: ``fix`` is a command or console step, shown when not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name}: {self.detail}"
        return f"{text}  fix: {self.fix}" if self.fix and self.status != "ok" else text


@dataclass(frozen=True)
class Target:
    """Where the stack goes, and how to spell a fix for it (``--region``/``--profile`` included)."""

    account: str
    region: str
    partition: str = "aws"
    profile: str | None = None

    def aws(self, command: str) -> str:
        profile = f" --profile {self.profile}" if self.profile else ""
        return f"aws {command} --region {self.region}{profile}"

    def bootstrap(self) -> str:
        profile = f" --profile {self.profile}" if self.profile else ""
        return f"npx aws-cdk@2 bootstrap aws://{self.account}/{self.region}{profile}"


# --- context ---------------------------------------------------------------------------------------
def load_context(cdk_json: Path, overrides: Sequence[str] = ()) -> dict[str, str]:
    """cdk.json's ``context`` with ``key=value`` overrides on top (as ``cdk deploy -c key=value``)."""
    context: dict[str, str] = {}
    if cdk_json.is_file():
        raw = json.loads(cdk_json.read_text(encoding="utf-8")).get("context") or {}
        # An object (the approver directory) is kept as its JSON text, as ``-c key='{...}'`` gives it.
        context.update(
            {key: json.dumps(value) if isinstance(value, dict) else str(value) for key, value in raw.items()}
        )
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ValueError(f"--context {override!r}: expected key=value")
        context[key] = value
    return context


def is_placeholder(host_or_address: str) -> bool:
    """The functions' own fail-closed test (``functions/shared/config.py``), for an address or a host."""
    host = host_or_address.rsplit("@", 1)[-1].strip()
    return is_placeholder_email(f"x@{host}") or is_local_url(f"https://{host}/")


def _looks_like_email(address: str) -> bool:
    local, sep, domain = address.partition("@")
    return bool(sep and local and "." in domain and "@" not in domain and " " not in address)


def check_email_context(context: Mapping[str, str], key: str, role: str, *, default: str = "") -> Check:
    """A context address (``senderEmail``, ``escalationApprover``) is set, an address, not a placeholder."""
    name = f"context {key}"
    fix = (
        f'set "{key}": "<{role} address>" in cdk.json\'s "context", or pass '
        f"-c {key}=<address> (to both preflight and cdk deploy)"
    )
    value = context.get(key, "").strip()
    if not value:
        fallback = f": the stack would use the placeholder {default}" if default else ""
        return Check(name, "FAIL", f"not set{fallback}", fix)
    if not _looks_like_email(value):
        return Check(name, "FAIL", f"{value!r} is not an email address", fix)
    if is_placeholder(value):
        return Check(name, "FAIL", f"{value} is a placeholder (no mailbox receives it)", fix)
    return Check(name, "ok", f"{role}: {value}")


def check_link_base_url(context: Mapping[str, str]) -> Check:
    """``approvalLinkBaseUrl`` is optional; when set it must be an https URL a person can open."""
    key = APPROVAL_LINK_BASE_URL_CONTEXT_KEY
    name = f"context {key}"
    value = context.get(key, "").strip()
    if not value:
        return Check(name, "ok", "not set: approval links point at the API's own stage URL")
    parsed = urllib.parse.urlsplit(value)
    fix = f"-c {key}=https://<host>/ (or remove it from cdk.json to use the API's URL)"
    if parsed.scheme != "https" or not parsed.hostname:
        return Check(name, "FAIL", f"{value} is not an https:// URL", fix)
    if is_placeholder(parsed.hostname):
        return Check(name, "FAIL", f"{value} is a placeholder host an approver cannot reach", fix)
    return Check(name, "ok", f"approval links start with {value}")


# --- credentials and bootstrap --------------------------------------------------------------------
def caller_target(sts: Client, region: str, profile: str | None) -> Target:
    arn = sts.get_caller_identity()["Arn"]
    return Target(account=arn.split(":")[4], region=region, partition=arn.split(":")[1], profile=profile)


def check_bootstrap(ssm: Client, cfn: Client, target: Target) -> Check:
    """The bootstrap version parameter every CDK template's CheckBootstrapVersion rule reads."""
    name = f"cdk bootstrap {target.account}/{target.region}"
    try:
        raw = ssm.get_parameter(Name=BOOTSTRAP_PARAMETER)["Parameter"]["Value"]
    except ClientError as exc:
        if _code(exc) != "ParameterNotFound":
            raise
        return Check(name, "FAIL", f"{BOOTSTRAP_PARAMETER} not found: not bootstrapped", target.bootstrap())
    version = int(raw) if str(raw).isdigit() else 0
    if version < MIN_BOOTSTRAP_VERSION:
        detail = f"version {raw}; aws-cdk-lib 2.275 needs >= {MIN_BOOTSTRAP_VERSION}"
        return Check(name, "FAIL", detail, target.bootstrap())
    return _toolkit_stack(cfn, target, name, version)


def _toolkit_stack(cfn: Client, target: Target, name: str, version: int) -> Check:
    try:
        status = cfn.describe_stacks(StackName=TOOLKIT_STACK)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if _code(exc) != "ValidationError":
            raise
        detail = f"version {version}, but no {TOOLKIT_STACK} stack (bootstrapped with --toolkit-stack-name?)"
        return Check(name, "warn", detail, f"{target.bootstrap()} (or check the toolkit stack's name)")
    if status in _HEALTHY_STACK:
        return Check(name, "ok", f"version {version} (>= {MIN_BOOTSTRAP_VERSION}), {TOOLKIT_STACK} {status}")
    if status.endswith("_IN_PROGRESS"):
        return Check(name, "warn", f"{TOOLKIT_STACK} is {status}", "wait for it to finish, then rerun")
    return Check(name, "FAIL", f"{TOOLKIT_STACK} is {status}", target.bootstrap())


# --- API Gateway account role ---------------------------------------------------------------------
def _trust_policy() -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": APIGATEWAY_SERVICE}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))


def _role_fix(target: Target, role_name: str) -> str:
    role_arn = f"arn:{target.partition}:iam::{target.account}:role/{role_name}"
    policy_arn = f"arn:{target.partition}:iam::aws:policy/{APIGATEWAY_LOGS_POLICY}"
    return " && ".join(
        [
            target.aws(
                f"iam create-role --role-name {role_name} --assume-role-policy-document '{_trust_policy()}'"
            ),
            target.aws(f"iam attach-role-policy --role-name {role_name} --policy-arn {policy_arn}"),
            target.aws(
                "apigateway update-account --patch-operations "
                f"op=replace,path=/cloudwatchRoleArn,value={role_arn}"
            ),
        ]
    )


def _trusts_apigateway(document: Any) -> bool:
    if isinstance(document, str):  # IAM returns it URL-encoded; boto3 usually decodes it already
        document = json.loads(urllib.parse.unquote(document))
    return APIGATEWAY_SERVICE in json.dumps(document)


def check_apigateway_role(apigateway: Client, iam: Client, target: Target) -> Check:
    """infra/api.py deploys a stage with execution logging and ``cloud_watch_role=False``."""
    name = f"API Gateway CloudWatch role ({target.region})"
    role_arn = apigateway.get_account().get("cloudwatchRoleArn")
    if not role_arn:
        detail = "not set: the stage with execution logging fails to deploy"
        return Check(name, "FAIL", detail, _role_fix(target, APIGATEWAY_LOGS_ROLE))
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        return Check(name, "FAIL", f"{role_arn} does not exist in IAM", _role_fix(target, role_name))
    if not _trusts_apigateway(role.get("AssumeRolePolicyDocument") or {}):
        fix = target.aws(
            f"iam update-assume-role-policy --role-name {role_name} --policy-document '{_trust_policy()}'"
        )
        return Check(name, "FAIL", f"{role_arn} is not trusted by {APIGATEWAY_SERVICE}", fix)
    return Check(name, "ok", f"{role_arn} (exists, trusted by {APIGATEWAY_SERVICE})")


# --- SES ------------------------------------------------------------------------------------------
def verification_statuses(ses: Client, addresses: Iterable[str]) -> dict[str, str]:
    """address → SES v1 status ("Success", "Pending", ... or "NotRequested"); a verified domain counts."""
    wanted = sorted(set(addresses))
    identities = sorted({*wanted, *(a.rsplit("@", 1)[-1] for a in wanted)})
    found: dict[str, str] = {}
    for start in range(0, len(identities), 100):  # the API takes at most 100 identities per call
        answer = ses.get_identity_verification_attributes(Identities=identities[start : start + 100])
        found.update({k: v["VerificationStatus"] for k, v in answer["VerificationAttributes"].items()})
    statuses = {}
    for address in wanted:
        domain = address.rsplit("@", 1)[-1]
        statuses[address] = (
            "Success" if found.get(domain) == "Success" else found.get(address, "NotRequested")
        )
    return statuses


def check_ses_sender(ses: Client, sender: str, target: Target, *, deployed: bool) -> Check:
    """The stack creates the sender identity (infra/storage.py); SES mails it a link to click."""
    name = f"SES sender {sender}"
    status = verification_statuses(ses, [sender])[sender]
    if status == "Success":
        return Check(name, "ok", "verified")
    if status == "NotRequested" and not deployed:
        # Creating it by hand now would collide with the stack's AWS::SES::EmailIdentity.
        return Check(
            name,
            "warn",
            "no identity yet: cdk deploy creates it",
            f"after the deploy, open the link SES mails to {sender}",
        )
    if status == "NotRequested":
        return Check(
            name,
            "FAIL",
            "no SES identity",
            target.aws(f"sesv2 create-email-identity --email-identity {sender}"),
        )
    resend = target.aws(f"ses verify-email-identity --email-address {sender}")
    return Check(
        name, "FAIL", f"verification {status}", f"open the link SES mailed to {sender} (resend: {resend})"
    )


def ses_sandbox(sesv2: Client) -> tuple[bool | None, str]:
    """(in the sandbox?, why unknown): ``sesv2.get_account()["ProductionAccessEnabled"]``."""
    try:
        return not sesv2.get_account().get("ProductionAccessEnabled", False), ""
    except ClientError as exc:
        return None, _code(exc)
    except NotImplementedError:  # moto 5.2.5 has no SESv2 GetAccount; AWS always answers it
        return None, "GetAccount not implemented"


def check_ses_recipients(
    ses: Client, recipients: Iterable[str], target: Target, *, in_sandbox: bool | None, unknown_why: str = ""
) -> Check:
    """In the SES sandbox every recipient (approvers, escalation, test leads) must be verified."""
    name = "SES sandbox recipients"
    if in_sandbox is False:
        return Check(name, "ok", "production access: SES mails any recipient")
    addresses = sorted({r for r in recipients if _looks_like_email(r)})
    if not addresses:
        return Check(name, "ok", "no recipient configured to check (escalationApprover, --recipient)")
    statuses = verification_statuses(ses, addresses)
    unverified = [address for address, status in statuses.items() if status != "Success"]
    production = "or request production access (SES console → Account dashboard → Request production access)"
    fix = " && ".join(
        target.aws(f"sesv2 create-email-identity --email-identity {address}")
        if statuses[address] == "NotRequested"
        else target.aws(f"ses verify-email-identity --email-address {address}")  # resends the link
        for address in unverified
    )
    fix = f"{fix} (each clicks the link SES mails), {production}" if unverified else ""
    if in_sandbox is None:
        detail = f"sandbox status unknown ({unknown_why})"
        if unverified:
            return Check(
                name, "warn", f"{detail}; if in the sandbox, unverified: {', '.join(unverified)}", fix
            )
        return Check(name, "ok", f"{detail}; all {len(addresses)} configured recipient(s) verified")
    if unverified:
        return Check(name, "FAIL", f"in the SES sandbox, unverified: {', '.join(unverified)}", fix)
    return Check(
        name,
        "ok",
        f"in the SES sandbox, all {len(addresses)} configured recipient(s) verified (leads must be too)",
    )


# --- secrets --------------------------------------------------------------------------------------
def find_stack_secrets(cfn: Client, lambda_: Client, stack_name: str) -> dict[str, str | None] | None:
    """Construct id → secret ARN in the deployed stack; ``None`` if the stack does not exist.

    First the stack's ``AWS::SecretsManager::Secret`` resources (logical id ``Storage<construct id>…``,
    physical id = ARN), then, for any not found, the environment CDK gives the stack's functions.
    """
    try:
        summaries = [
            summary
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
            for summary in page["StackResourceSummaries"]
        ]
    except ClientError as exc:
        if _code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    found: dict[str, str | None] = dict.fromkeys(SECRET_ENV)
    for summary in summaries:
        for construct_id in SECRET_ENV:
            logical_id = summary.get("LogicalResourceId", "")
            if summary.get("ResourceType") == "AWS::SecretsManager::Secret" and logical_id.startswith(
                STORAGE_ID + construct_id
            ):
                found[construct_id] = summary.get("PhysicalResourceId") or None
    functions = [
        s["PhysicalResourceId"] for s in summaries if s.get("ResourceType") == "AWS::Lambda::Function"
    ]
    for function in functions:
        if all(found.values()):
            break
        env = lambda_.get_function_configuration(FunctionName=function).get("Environment", {})
        variables = env.get("Variables", {})
        for construct_id, variable in SECRET_ENV.items():
            found[construct_id] = found[construct_id] or variables.get(variable)
    return found


def _secret_string(secretsmanager: Client, arn: str) -> str | None:
    """The current value, or ``None`` if the secret has none."""
    try:
        return str(secretsmanager.get_secret_value(SecretId=arn).get("SecretString") or "")
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise


def anthropic_fix(target: Target, arn: str | None) -> str:
    return target.aws(
        f"secretsmanager put-secret-value --secret-id {arn or '<AnthropicApiKey secret ARN>'} "
        """--secret-string '{"api_key":"sk-ant-..."}'"""
    )


def check_anthropic_secret(secretsmanager: Client, arn: str | None, target: Target, *, stack: str) -> Check:
    """The secret the LLM steps read (``functions.shared.llm.factory``) holds an Anthropic key."""
    name = f"{ANTHROPIC_SECRET_ID} secret"
    fix = anthropic_fix(target, arn)
    if arn is None:
        return Check(
            name,
            "FAIL",
            f"no {ANTHROPIC_SECRET_ID} secret in {stack}",
            f"{_deploy(target, stack)}, then {fix}",
        )
    raw = _secret_string(secretsmanager, arn)
    if raw is None:
        return Check(name, "FAIL", "the secret has no value", fix)
    key = api_key_from_secret_string(raw)
    if not key:
        return Check(name, "FAIL", "empty or a placeholder (no api_key)", fix)
    if not key.startswith(ANTHROPIC_KEY_PREFIX):
        detail = (
            f"does not look like an Anthropic key ({len(key)} characters, no {ANTHROPIC_KEY_PREFIX} prefix)"
        )
        return Check(name, "FAIL", detail, fix)
    return Check(name, "ok", f"holds an Anthropic key ({ANTHROPIC_KEY_PREFIX}…, {len(key)} characters)")


def check_signing_secret(secretsmanager: Client, arn: str | None, target: Target, *, stack: str) -> Check:
    """The HMAC key of the approval links (CDK generates 64 characters at deploy)."""
    name = f"{APPROVAL_SIGNING_SECRET_ID} secret"
    generate = target.aws(
        "secretsmanager get-random-password --password-length 64 --exclude-punctuation "
        "--query RandomPassword --output text"
    )
    secret_id = arn or "<ApprovalSigningSecret ARN>"
    fix = target.aws(
        f'secretsmanager put-secret-value --secret-id {secret_id} --secret-string "$({generate})"'
    )
    if arn is None:
        return Check(
            name, "FAIL", f"no {APPROVAL_SIGNING_SECRET_ID} secret in {stack}", _deploy(target, stack)
        )
    raw = _secret_string(secretsmanager, arn)
    if not raw or not raw.strip():
        return Check(name, "FAIL", "empty: approval links cannot be signed", fix)
    if raw.strip().startswith("{"):  # a key ring, written by the rotation Lambda
        from functions.shared.link_keys import parse_ring

        try:
            ring = parse_ring(raw)
        except ValueError as exc:
            detail = f"not a valid key ring ({type(exc).__name__}): links cannot be signed"
            return Check(
                name, "FAIL", detail, target.aws(f"secretsmanager rotate-secret --secret-id {secret_id}")
            )
        return Check(name, "ok", f"key ring: current key {ring.current}, {len(ring.keys)} key(s)")
    if len(raw) < 32:
        return Check(name, "warn", f"only {len(raw)} characters (CDK generates 64)", fix)
    return Check(name, "ok", f"set ({len(raw)} characters)")


def _deploy(target: Target, stack: str) -> str:
    profile = f" --profile {target.profile}" if target.profile else ""
    return f"npx aws-cdk@2 deploy {stack} -c stage={stack.removeprefix('Stepwise-')}{profile}"


def not_deployed(name: str, stack: str, fix: str) -> Check:
    return Check(name, "warn", f"{stack} not deployed yet, run after the first cdk deploy", fix)


# --- running --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    stage: str
    context: Mapping[str, str]
    recipients: Sequence[str] = ()

    @property
    def stack(self) -> str:
        return f"Stepwise-{self.stage}"  # app.py


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _could_not_check(name: str, exc: ClientError | BotoCoreError) -> Check:
    if isinstance(exc, ClientError):
        operation = exc.operation_name
        detail = f"could not check: {operation} answered {_code(exc)}"
        return Check(name, "FAIL", detail, f"use credentials allowed to call {operation}")
    return Check(name, "FAIL", f"could not reach AWS: {exc}", "check the network and --region")


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that cannot run is a FAIL naming the refused call, not a traceback."""
    try:
        return check()
    except (ClientError, BotoCoreError) as exc:
        return _could_not_check(name, exc)


def run_checks(session: Any, options: Options, *, profile: str | None = None) -> list[Check]:
    """Every check, in order; ``session`` is a ``boto3.Session`` (its region is the deploy's)."""
    checks = context_checks(options.context)
    region = session.region_name
    if not region:
        return [
            *checks,
            Check("AWS region", "FAIL", "none configured", "pass --region or set AWS_DEFAULT_REGION"),
        ]
    try:
        target = caller_target(session.client("sts"), region, profile)
    except (ClientError, BotoCoreError) as exc:
        fix = f"aws sso login{f' --profile {profile}' if profile else ''} (or aws configure)"
        if isinstance(exc, EndpointConnectionError):
            fix = "check the network and --region"
        return [*checks, Check("AWS credentials", "FAIL", f"sts:GetCallerIdentity failed: {exc}", fix)]
    account = Check("AWS credentials", "ok", f"account {target.account}, region {region}")
    return [account, *checks, *account_checks(_Clients(session), target, options)]


def context_checks(context: Mapping[str, str]) -> list[Check]:
    return [
        check_email_context(context, SENDER_EMAIL_CONTEXT_KEY, "sender", default=DEFAULT_SENDER_EMAIL),
        check_email_context(context, ESCALATION_APPROVER_CONTEXT_KEY, "escalation approver"),
        check_link_base_url(context),
    ]


class _Clients:
    """One client per service, made on first use."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._clients: dict[str, Client] = {}

    def __call__(self, service: str) -> Client:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]


def account_checks(client: Callable[[str], Client], target: Target, options: Options) -> list[Check]:
    """Bootstrap, the API Gateway role, SES, then the deployed stack's two secrets."""
    context, stack = options.context, options.stack
    checks = [
        _guarded("cdk bootstrap", lambda: check_bootstrap(client("ssm"), client("cloudformation"), target)),
        _guarded(
            "API Gateway CloudWatch role",
            lambda: check_apigateway_role(client("apigateway"), client("iam"), target),
        ),
    ]
    stack_error: Check | None = None
    secrets: dict[str, str | None] | None = None
    try:
        secrets = find_stack_secrets(client("cloudformation"), client("lambda"), stack)
    except (ClientError, BotoCoreError) as exc:
        stack_error = _could_not_check(f"stack {stack}", exc)
    sender = context.get(SENDER_EMAIL_CONTEXT_KEY) or DEFAULT_SENDER_EMAIL
    deployed = secrets is not None
    checks.append(
        _guarded("SES sender", lambda: check_ses_sender(client("ses"), sender, target, deployed=deployed))
    )
    in_sandbox, why = ses_sandbox(client("sesv2"))
    recipients = [context.get(ESCALATION_APPROVER_CONTEXT_KEY, ""), *options.recipients]
    checks.append(
        _guarded(
            "SES sandbox recipients",
            lambda: check_ses_recipients(
                client("ses"), recipients, target, in_sandbox=in_sandbox, unknown_why=why
            ),
        )
    )
    from local.preflight_approvers import NAME, check_approver_directory

    checks.append(
        _guarded(
            NAME,
            lambda: check_approver_directory(
                client("ses"), context, target, in_sandbox=in_sandbox, unknown_why=why
            ),
        )
    )
    if stack_error is not None:
        return [*checks, stack_error]
    if secrets is None:
        return [
            *checks,
            not_deployed(f"{ANTHROPIC_SECRET_ID} secret", stack, anthropic_fix(target, None)),
            not_deployed(
                f"{APPROVAL_SIGNING_SECRET_ID} secret", stack, f"{_deploy(target, stack)} generates it"
            ),
        ]
    found = secrets
    secretsmanager = client("secretsmanager")
    return [
        *checks,
        _guarded(
            f"{ANTHROPIC_SECRET_ID} secret",
            lambda: check_anthropic_secret(secretsmanager, found[ANTHROPIC_SECRET_ID], target, stack=stack),
        ),
        _guarded(
            f"{APPROVAL_SIGNING_SECRET_ID} secret",
            lambda: check_signing_secret(
                secretsmanager, found[APPROVAL_SIGNING_SECRET_ID], target, stack=stack
            ),
        ),
    ]


def report(checks: Sequence[Check], options: Options, out: TextIO) -> int:
    for check in checks:
        print(check.line(), file=out)
    counts = {status: sum(c.status == status for c in checks) for status in ("ok", "warn", "FAIL")}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"preflight {options.stack}: {summary}", file=out)
    return 1 if counts["FAIL"] else 0


def command_preflight(args: argparse.Namespace, out: TextIO) -> int:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        context = load_context(ROOT / "cdk.json", args.context)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stage = args.stage or context.get("stage") or "dev"
    options = Options(stage=stage, context=context, recipients=args.recipient)
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    except ProfileNotFound as exc:
        failed = Check("AWS credentials", "FAIL", str(exc), f"aws configure --profile {args.profile}")
        return report([*context_checks(context), failed], options, out)
    return report(run_checks(session, options, profile=args.profile), options, out)
