"""Deploy a synthesized assembly into the moto account, the way CloudFormation would.

``deploy(assembly, ...)`` creates what the templates declare (``local/assembly.py`` reads them):
tables with their indexes and TTL, buckets, KMS keys and aliases, secrets (generated as
CloudFormation generates them), SSM parameters (the approver directory), SES identities, IAM
roles with their policies, the state machines with a published version and their ``live``
alias; and for each function an execution environment (``local/lambdas.py``): the template's
variables, the Lambda runtime's reserved ones, and credentials of its own role (STS AssumeRole in moto).

Two values differ from the template, as CloudFormation's would: a KMS key id and a secret's ARN
suffix are chosen by the service (moto) at creation, so every reference to them (policies,
environments) is rewritten to the created value.

Harness-provided variables, the only ones a function gets that the template does not set:
``AWS_ENDPOINT_URL`` (moto's endpoint on loopback), ``ANTHROPIC_BASE_URL`` (the offline model,
``local/offline_llm_server.py``) and ``POWERTOOLS_TRACE_DISABLED`` (there is no X-Ray daemon).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import shutil
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.registry import API_HANDLER, WORKFLOWS
from functions.shared.aws import client
from local.assembly import ACCOUNT, Assembly, FunctionSpec
from local.dispatch import Dispatcher
from local.lambdas import Environment, LambdaService
from local.moto_asl import for_moto

LAMBDA_PYTHON = "python3.14"


@dataclass(frozen=True)
class Deployment:
    environments: dict[str, Environment]  # function name → environment
    #: workflow → the ARN executions start on (the ``live`` alias), from the API's environment
    start_arns: dict[str, str]
    #: state machine name → workflow
    machine_workflows: dict[str, str]
    #: what the harness's in-process code (seeding, the CLI's approvals) needs to find resources
    harness_env: dict[str, str]


class _Rewrites:
    def __init__(self) -> None:
        self._map: dict[str, str] = {}

    def add(self, old: str, new: str) -> None:
        if old != new:
            self._map[old] = new

    def __call__(self, value: str) -> str:
        for old, new in self._map.items():
            value = value.replace(old, new)
        return value


def _generate(spec: dict[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    for excluded in spec.get("ExcludeCharacters", ""):
        alphabet = alphabet.replace(excluded, "")
    generated = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = generated
        return json.dumps(document)
    return generated


def deploy(assembly: Assembly, *, endpoint_url: str, anthropic_base_url: str) -> Deployment:
    rewrites = _Rewrites()
    _create_storage(assembly, rewrites)
    secretsmanager = _create_secrets(assembly, rewrites)
    iam, sts = client("iam"), client("sts")
    credentials: dict[str, dict[str, str]] = {}
    for role in assembly.roles.values():
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust_policy))
        for policy_name, document in role.policies.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=policy_name, PolicyDocument=rewrites(json.dumps(document))
            )
    _create_state_machines(assembly)
    environments = {}
    for function in assembly.functions.values():
        if function.role_arn not in credentials:
            session = sts.assume_role(RoleArn=function.role_arn, RoleSessionName=function.name[-64:])
            credentials[function.role_arn] = session["Credentials"]
        environments[function.name] = _environment(
            function,
            credentials[function.role_arn],
            region=assembly.region,
            rewrites=rewrites,
            harness={
                "AWS_ENDPOINT_URL": endpoint_url,
                "ANTHROPIC_BASE_URL": anthropic_base_url,
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
        )
    api = _api_environment(assembly, environments)
    start_arns = json.loads(api.get("STEPWISE_STATE_MACHINES", "{}"))
    machine_workflows = {
        arn.split(":stateMachine:", 1)[1].split(":", 1)[0]: wf for wf, arn in start_arns.items()
    }
    harness_env = {k: v for k, v in api.items() if k.startswith("STEPWISE_")}
    _store_offline_key(environments, secretsmanager)
    signing_arn = harness_env.get("STEPWISE_APPROVAL_SIGNING_SECRET_ARN")
    if signing_arn:
        harness_env["STEPWISE_APPROVAL_SIGNING_SECRET"] = secretsmanager.get_secret_value(
            SecretId=signing_arn
        )["SecretString"]
    return Deployment(environments, start_arns, machine_workflows, harness_env)


def _create_storage(assembly: Assembly, rewrites: _Rewrites) -> None:
    dynamodb = client("dynamodb")
    for table in assembly.tables:
        dynamodb.create_table(**table)
    for name, attribute in assembly.ttl.items():
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    s3 = client("s3")
    location = (
        {}
        if assembly.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": assembly.region}}
    )
    for bucket in assembly.buckets:
        s3.create_bucket(Bucket=bucket, **location)
    kms = client("kms")
    for key_id, description in assembly.keys.items():
        created = kms.create_key(Description=description)["KeyMetadata"]["KeyId"]
        rewrites.add(key_id, created)
    for alias, target in assembly.key_aliases.items():
        kms.create_alias(AliasName=alias, TargetKeyId=rewrites(target).rsplit("/", 1)[-1])
    ssm = client("ssm")
    for name, (kind, value) in assembly.parameters.items():
        ssm.put_parameter(Name=name, Type=kind, Value=value, Tier="Standard")
    ses = client("ses")
    for identity in assembly.email_identities:
        ses.verify_email_identity(EmailAddress=identity)


def _create_secrets(assembly: Assembly, rewrites: _Rewrites) -> Any:
    secretsmanager = client("secretsmanager")
    for name, props in assembly.secrets.items():
        value = props.get("SecretString") or _generate(props.get("GenerateSecretString", {}))
        arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
        rewrites.add(f"arn:aws:secretsmanager:{assembly.region}:{ACCOUNT}:secret:{name}", arn)
    return secretsmanager


def _create_state_machines(assembly: Assembly) -> None:
    sfn = client("stepfunctions")
    for machine in assembly.state_machines:
        # publish=True: the version the template's StateMachineVersion publishes (moto 5.2.5 has
        # no PublishStateMachineVersion action; creating with publish is the same version 1).
        created = sfn.create_state_machine(
            name=machine.name,
            definition=for_moto(machine.definition),
            roleArn=machine.role_arn,
            type="STANDARD",
            publish=machine.alias_name is not None,
        )
        if machine.alias_name:
            sfn.create_state_machine_alias(
                name=machine.alias_name,
                routingConfiguration=[
                    {"stateMachineVersionArn": created["stateMachineVersionArn"], "weight": 100}
                ],
            )


def _environment(
    function: FunctionSpec,
    credentials: dict[str, Any],
    *,
    region: str,
    rewrites: _Rewrites,
    harness: dict[str, str],
) -> Environment:
    variables = {
        # the template's
        **{k: rewrites(v) for k, v in function.environment.items()},
        # the Lambda runtime's reserved variables
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{LAMBDA_PYTHON}",
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only on Lambda
        # the role's session
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        **harness,
    }
    return Environment(
        name=function.name,
        arn=function.arn,
        handler=function.handler,
        code_dir=Path(function.code_dir),
        variables=variables,
        timeout_seconds=function.timeout_seconds,
        memory_mb=function.memory_mb,
    )


def _api_environment(assembly: Assembly, environments: dict[str, Environment]) -> dict[str, str]:
    """The API function's variables: it is the one that names every table, bucket and machine."""
    (api,) = assembly.function_by_handler(API_HANDLER)
    return dict(environments[api.name].variables)


def _store_offline_key(environments: dict[str, Environment], secretsmanager: Any) -> None:
    """Put the offline key (one only the offline model answers to) in the Anthropic secret, as an
    operator puts the real one."""
    from functions.shared.llm.factory import OFFLINE_API_KEY

    arns = {e.variables.get("STEPWISE_ANTHROPIC_SECRET_ARN", "") for e in environments.values()} - {""}
    for arn in arns:
        secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"api_key": OFFLINE_API_KEY}))


class DeployedAccount:
    """The as-deployed parts of a runtime: moto's endpoint on loopback, IAM enforcement, the
    offline Anthropic endpoint, the assembly's resources and the functions' environments."""

    def __init__(self, assembly: Assembly, deployment: Deployment, lambdas: LambdaService, undo: list[Any]):
        self.assembly = assembly
        self.deployment = deployment
        self.lambdas = lambdas
        self._undo = undo
        #: Model an account in the SES sandbox: mail to an unverified recipient is refused.
        self.ses_sandbox = False
        undo.append(_ses_sandbox(lambda: self.ses_sandbox))

    @property
    def harness_env(self) -> dict[str, str]:
        return self.deployment.harness_env

    @classmethod
    def open(cls, region: str, assembly_dir: Path | None) -> DeployedAccount:
        from moto.server import ThreadedMotoServer

        from local.assembly import load, synthesize
        from local.iam_enforcement import enforce
        from local.offline_llm_server import OfflineAnthropicServer

        assembly = load(assembly_dir or synthesize(), region=region)
        undo: list[Any] = []
        # moto's endpoint logs every request line at INFO (werkzeug); the functions' logs say more.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        try:
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            undo.append(server.stop)
            host, port = server.get_host_and_port()
            llm = OfflineAnthropicServer().start()
            undo.append(llm.stop)
            undo.append(enforce())
            undo.append(_start_on_aliases())
            deployment = deploy(
                assembly,
                endpoint_url=f"http://{host}:{port}",
                anthropic_base_url=llm.url,
            )
            lambdas = LambdaService(log_dir=Path(tempfile.mkdtemp(prefix="stepwise-lambda-logs-")))
            undo.append(lambdas.close)
            for environment in deployment.environments.values():
                lambdas.register(environment)
        except BaseException:
            for step in reversed(undo):
                step()
            raise
        return cls(assembly, deployment, lambdas, undo)

    def attach(self, dispatcher: Dispatcher) -> None:
        """Route the interpreter's invocations to the deployed functions, by their names (each with
        the template's ``Timeout``: what the dispatcher's clock and the worker both enforce)."""
        steps = {s.handler: s for w in WORKFLOWS.values() for s in w.steps}
        dispatcher.steps = {
            f.name: dataclasses.replace(steps[f.handler], timeout_seconds=f.timeout_seconds)
            for f in self.assembly.functions.values()
            if f.handler in steps
        }
        dispatcher.remote = self.lambdas.invoke

    def handler(self, handler: str) -> Callable[[dict[str, Any], Any], Any]:
        """Call the deployed function whose handler is ``handler`` (the API's, the sweeper's)."""
        (function,) = self.assembly.function_by_handler(handler)
        return lambda event, _context: self.lambdas.invoke(function.name, event)

    def function(self, handler: str) -> FunctionSpec:
        (function,) = self.assembly.function_by_handler(handler)
        return function

    def function_logs(self) -> dict[str, str]:
        """Each function's log so far (its stdout and stderr, as CloudWatch Logs would hold them)."""
        return {
            name: self.lambdas.log_path(name).read_text(encoding="utf-8", errors="replace")
            for name in sorted(self.lambdas.environments)
            if self.lambdas.log_path(name).is_file()
        }

    def close(self) -> None:
        for step in reversed(self._undo):
            try:
                step()
            except Exception:  # noqa: S112 - best effort at teardown
                continue
        shutil.rmtree(self.lambdas.log_dir, ignore_errors=True)


def _start_on_aliases() -> Callable[[], None]:
    """``StartExecution`` on an alias ARN (moto 5.2.5 accepts only machine ARNs for executions):
    the alias must exist and route to a version of the machine; the run then uses the machine's
    definition, which is that version's (one version is published, at creation). An unknown alias
    is ``StateMachineDoesNotExist``, as on AWS."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        machine_arn, _, qualifier = state_machine_arn.rpartition(":")
        if ":stateMachine:" in machine_arn and qualifier and not qualifier.isnumeric():
            machine = next((m for m in self.state_machines if m.arn == machine_arn), None)
            alias = machine.aliases.get(qualifier) if machine is not None else None
            routes = alias.routing_configuration if alias is not None else []
            if routes and all(r["stateMachineVersionArn"].startswith(machine_arn + ":") for r in routes):
                state_machine_arn = machine_arn
        return original(self, state_machine_arn, *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    return lambda: setattr(StepFunctionsParserBackend, "start_execution", original)


def clear_data(assembly: Assembly) -> None:
    """Empty every table and bucket of the assembly and SES's record of sent mail, keeping the
    resources, roles and warm function environments: a fresh business state at a fraction of a
    new deployment's cost (what the as-deployed scenario tests run between scenarios)."""
    from moto.ses.models import ses_backends

    dynamodb = client("dynamodb")
    for table in assembly.tables:
        keys = [k["AttributeName"] for k in table["KeySchema"]]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table["TableName"]):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=table["TableName"], Key={k: item[k] for k in keys})
    s3 = client("s3")
    for bucket in assembly.buckets:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    ses_backends[ACCOUNT][assembly.region].sent_messages.clear()


def _ses_sandbox(active: Callable[[], bool]) -> Callable[[], None]:
    """SES's sandbox, which moto does not model: while ``active()``, every recipient must be a
    verified identity too, or the send is refused with SES's own ``MessageRejected`` text."""
    from moto.ses.exceptions import MessageRejectedError
    from moto.ses.models import SESBackend

    original_send, original_raw = SESBackend.send_email, SESBackend.send_raw_email

    def check(backend: Any, addresses: list[str]) -> None:
        unverified = [a for a in addresses if not backend._is_verified_address(a)]
        if active() and unverified:
            raise MessageRejectedError(
                "Email address is not verified. The following identities failed the check in region "
                f"{backend.region_name.upper()}: {', '.join(unverified)}"
            )

    def send_email(
        self: Any, source: str, subject: str, body: str, destinations: dict[str, list[str]]
    ) -> Any:
        recipients = [
            a for kind in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(kind, [])
        ]
        check(self, recipients)
        return original_send(self, source, subject, body, destinations)

    def send_raw_email(self: Any, source: str, destinations: list[str], *args: Any, **kwargs: Any) -> Any:
        check(self, list(destinations))
        return original_raw(self, source, destinations, *args, **kwargs)

    SESBackend.send_email = send_email  # type: ignore[method-assign]
    SESBackend.send_raw_email = send_raw_email  # type: ignore[method-assign]

    def undo() -> None:
        SESBackend.send_email = original_send  # type: ignore[method-assign]
        SESBackend.send_raw_email = original_raw  # type: ignore[method-assign]

    return undo
