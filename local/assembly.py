"""The synthesized cloud assembly (``cdk.out``), read the way CloudFormation would deploy it.

The as-deployed runtime (``LocalRuntime(as_deployed=True)``) builds its moto account from this,
never from the repository: tables, buckets, keys, secrets, SSM parameters, IAM roles with their policies, the
state machines' rendered definitions with their versions and ``live`` aliases, and one
:class:`FunctionSpec` per Lambda (handler, environment, role, timeout, memory, code asset dir).

Why a loader of our own rather than moto's CloudFormation (``create_stack``): evaluated on moto
5.2.5, it has no model for ``AWS::SecretsManager::Secret``, ``AWS::SES::EmailIdentity``,
``AWS::StepFunctions::StateMachineVersion``/``Alias`` (unsupported types become warnings and
their ``Ref`` the logical id), nested stacks need their templates in S3, and its state machines
land in the legacy Step Functions backend, not the interpreter's. The loader below resolves the
few intrinsics CDK emits here (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, pseudo
parameters, nested-stack parameters and outputs); anything else is an error, not a guess.

Physical names are deterministic (``<stack>-<logical id>``), the way CloudFormation generates
them but without the random suffix, so tests can name them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.registry import ROOT
from functions.shared.api_clients import LOCAL_FILE as LOCAL_API_CLIENTS_FILE
from functions.shared.approvers import LOCAL_FILE as LOCAL_APPROVERS_FILE

ACCOUNT = "123456789012"
#: Where synthesized assemblies are cached, one folder per hash of what goes into them.
CACHE_DIR = ROOT / ".stepwise" / "assemblies"
#: Context of the as-deployed synthesis: a cloud stage, so the cloud settings are checked (and fail
#: closed) as in the cloud. The addresses must pass that check, so they cannot be in a reserved
#: domain (``.test``, ``.example``): they name the fictitious company the tests use, and nothing
#: synthesized with them is ever deployed.
LOCAL_CONTEXT: Mapping[str, object] = {
    "stage": "dev",
    "senderEmail": "outreach@acme-demo.com",
    "escalationApprover": "sales-manager@acme-demo.com",
    # The approver directory the examples and tests use (the local stage's own, examples/).
    "approvers": json.loads(LOCAL_APPROVERS_FILE.read_text(encoding="utf-8")),
    # The API's clients (examples/api_clients.json): one Cognito app client each.
    "apiClients": json.loads(LOCAL_API_CLIENTS_FILE.read_text(encoding="utf-8")),
}
#: What decides the assembly's content: a change in any of these synthesizes anew.
_INPUTS = ("app.py", "cdk.json", "requirements.txt", "infra", "functions", "statemachines")
#: Tells ``infra.packaging`` to stand the dependency layers in with the virtualenv (see there).
LAYERS_FROM_VENV_ENV = "STEPWISE_LAYERS_FROM_VENV"

_PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


class AssemblyError(RuntimeError):
    """The assembly uses something this loader does not resolve, or could not be synthesized."""


# --- synthesis ------------------------------------------------------------------------------------
def inputs_digest(context: Mapping[str, object]) -> str:
    digest = hashlib.sha256(json.dumps(dict(context), sort_keys=True).encode())
    for name in _INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def synthesize(outdir: Path | None = None, context: Mapping[str, object] = LOCAL_CONTEXT) -> Path:
    """Run ``app.py`` as ``cdk synth`` does (context in ``CDK_CONTEXT_JSON``), with asset bundling
    on, into ``outdir`` or a cache folder keyed by the inputs' hash; returns the assembly dir.

    The code asset is bundled for real (that is the point); the dependency layers are marked as
    standing in for the virtualenv (``LAYERS_FROM_VENV_ENV``): their wheels are for Lambda's
    arm64 Python 3.14 and cannot load here, while the virtualenv holds the same pins.
    """
    # app.py reads cdk.json's context itself; CDK_CONTEXT_JSON (the cdk CLI's -c) goes over it.
    target = outdir or CACHE_DIR / inputs_digest(context)
    done = target / "manifest.json"
    with _locked(target.with_name(target.name + ".lock")):
        if outdir is None and done.is_file():
            return target
        env = {
            **os.environ,
            "CDK_OUTDIR": str(target),
            "CDK_CONTEXT_JSON": json.dumps(dict(context)),
            LAYERS_FROM_VENV_ENV: "1",
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        synth = subprocess.run(  # noqa: S603 - our own app, with this interpreter
            [sys.executable, str(ROOT / "app.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if synth.returncode != 0 or not done.is_file():
            raise AssemblyError(f"cdk synth failed ({synth.returncode}):\n{synth.stderr[-4000:]}")
    if outdir is None:
        _prune_cache(keep=target)
    return target


#: Cached assemblies kept besides the newest (each is a few MB; older code is rarely run again).
_CACHE_KEEP = 3


def _prune_cache(keep: Path) -> None:
    cached = sorted(
        (p for p in CACHE_DIR.iterdir() if p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in cached[_CACHE_KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
        old.with_name(old.name + ".lock").unlink(missing_ok=True)


# --- the model --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    stack: str
    name: str  # physical function name
    arn: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    role_arn: str
    timeout_seconds: int
    memory_mb: int
    layers: tuple[str, ...]


@dataclass(frozen=True)
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    #: policy name → resolved document
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    stack: str
    name: str
    arn: str
    definition: str
    role_arn: str
    #: The ``live`` alias and the version it routes to (``None`` if the stack has none).
    alias_name: str | None
    alias_arn: str | None


@dataclass(frozen=True)
class ApiMethodSpec:
    """One API Gateway method: what authorizes it (the local server plays API Gateway from this)."""

    http_method: str
    resource_path: str  # ``/executions/{executionId}``
    authorization_type: str  # ``NONE``, ``COGNITO_USER_POOLS``, ...
    scopes: tuple[str, ...]
    user_pool_ids: tuple[str, ...]  # the pools of its authorizer
    api_key_required: bool


@dataclass(frozen=True)
class PoolClientSpec:
    """A Cognito app client: its name, id, pool and the OAuth scopes it may ask for."""

    name: str
    client_id: str
    pool_id: str
    scopes: tuple[str, ...]


@dataclass
class Assembly:
    directory: Path
    region: str
    tables: list[dict[str, Any]] = field(default_factory=list)  # CreateTable kwargs
    ttl: dict[str, str] = field(default_factory=dict)  # table → TTL attribute
    buckets: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # key logical path → description
    key_aliases: dict[str, str] = field(default_factory=dict)  # alias name → key logical path
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # secret name → properties
    email_identities: list[str] = field(default_factory=list)
    #: SSM parameter name → (type, value): the approver directory, one per workflow.
    parameters: dict[str, tuple[str, str]] = field(default_factory=dict)
    roles: dict[str, RoleSpec] = field(default_factory=dict)  # role arn → spec
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # physical name → spec
    state_machines: list[StateMachineSpec] = field(default_factory=list)
    api_methods: list[ApiMethodSpec] = field(default_factory=list)
    pool_clients: list[PoolClientSpec] = field(default_factory=list)
    #: S3 object key of a file asset (``<hash>.zip``, ``<hash>.json``) → its path in the assembly.
    assets: dict[str, str] = field(default_factory=dict)

    def function_by_handler(self, handler: str) -> list[FunctionSpec]:
        return [f for f in self.functions.values() if f.handler == handler]


# --- loading ----------------------------------------------------------------------------------------
def _physical(stack: str, logical_id: str, limit: int = 64, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"
    if len(name) > limit:
        name = name[: limit - 9] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name.lower() if lower else name


#: ``Fn::GetAtt`` of a resource type's attribute, from its ``Ref`` (the physical name or ARN).
_ATTRIBUTES: dict[tuple[str, str], str] = {
    ("AWS::DynamoDB::Table", "Arn"): "arn:aws:dynamodb:{region}:{account}:table/{ref}",
    ("AWS::DynamoDB::Table", "StreamArn"): "arn:aws:dynamodb:{region}:{account}:table/{ref}/stream/local",
    ("AWS::S3::Bucket", "Arn"): "arn:aws:s3:::{ref}",
    ("AWS::Lambda::Function", "Arn"): "arn:aws:lambda:{region}:{account}:function:{ref}",
    ("AWS::IAM::Role", "Arn"): "arn:aws:iam::{account}:role/{ref}",
    ("AWS::KMS::Key", "Arn"): "arn:aws:kms:{region}:{account}:key/{ref}",
    ("AWS::Logs::LogGroup", "Arn"): "arn:aws:logs:{region}:{account}:log-group:{ref}:*",
    ("AWS::StepFunctions::StateMachine", "Name"): "{name}",
    ("AWS::StepFunctions::StateMachine", "Arn"): "{ref}",
    ("AWS::StepFunctions::StateMachineAlias", "Arn"): "{ref}",
    ("AWS::ApiGateway::RestApi", "RootResourceId"): "{ref}-root",
    ("AWS::Cognito::UserPool", "Arn"): "arn:aws:cognito-idp:{region}:{account}:userpool/{ref}",
    ("AWS::Cognito::UserPool", "ProviderName"): "cognito-idp.{region}.amazonaws.com/{ref}",
    ("AWS::Cognito::UserPool", "ProviderURL"): "https://cognito-idp.{region}.amazonaws.com/{ref}",
}


class _Stack:
    """One template with its parameters; resolves intrinsics to local physical values."""

    def __init__(self, assembly: Assembly, name: str, template: dict[str, Any], parameters: dict[str, Any]):
        self.assembly = assembly
        self.name = name
        self.template = template
        self.parameters = parameters
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.nested: dict[str, _Stack] = {}

    # physical identities -------------------------------------------------------------------------
    def ref(self, logical_id: str) -> Any:  # noqa: PLR0911, PLR0912 - one case per resource type
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        if logical_id == "AWS::Region":
            return self.assembly.region
        if logical_id == "AWS::StackName":
            return self.name
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise AssemblyError(f"{self.name}: Ref to unknown {logical_id}")
        kind, props = resource["Type"], resource.get("Properties", {})
        region = self.assembly.region
        match kind:
            case "AWS::DynamoDB::Table":
                return props.get("TableName") or _physical(self.name, logical_id, 255)
            case "AWS::S3::Bucket":
                return props.get("BucketName") or _physical(self.name, logical_id, 63, lower=True)
            case "AWS::Lambda::Function":
                return props.get("FunctionName") or _physical(self.name, logical_id)
            case "AWS::IAM::Role":
                return props.get("RoleName") or _physical(self.name, logical_id)
            case "AWS::SecretsManager::Secret":
                name = props.get("Name") or _physical(self.name, logical_id, 200)
                return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}"
            case "AWS::StepFunctions::StateMachine":
                name = self.resolve(props.get("StateMachineName")) or _physical(self.name, logical_id, 80)
                return f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}"
            case "AWS::StepFunctions::StateMachineAlias":
                versions = dict(self.of_type("AWS::StepFunctions::StateMachineVersion"))
                return f"{self.ref(str(_version_machine(versions, props)))}:{props['Name']}"
            case "AWS::KMS::Key":
                return hashlib.sha256(f"{self.name}/{logical_id}".encode()).hexdigest()[:32]
            case "AWS::SSM::Parameter":
                return self.resolve(props.get("Name")) or _physical(self.name, logical_id)
            case "AWS::ApiGateway::Stage":
                return props.get("StageName") or _physical(self.name, logical_id)
            case "AWS::ApiGateway::RestApi":
                return hashlib.sha256(f"{self.name}/{logical_id}".encode()).hexdigest()[:10]
            case "AWS::Cognito::UserPool":
                # Cognito's shape: <region>_<9 characters>, chosen by the service (stable here).
                return f"{region}_{hashlib.sha256(f'{self.name}/{logical_id}'.encode()).hexdigest()[:9]}"
            case "AWS::Cognito::UserPoolClient":
                return hashlib.sha256(f"{self.name}/{logical_id}".encode()).hexdigest()[:26]
            case "AWS::Cognito::UserPoolResourceServer":
                return self.resolve(props["Identifier"])
            case _:
                return _physical(self.name, logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise AssemblyError(f"{self.name}: GetAtt of unknown {logical_id}")
        kind, region = resource["Type"], self.assembly.region
        if kind == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            nested = self.nested[logical_id]
            return nested.resolve(nested.template["Outputs"][attribute.removeprefix("Outputs.")]["Value"])
        ref = self.ref(logical_id)
        template = _ATTRIBUTES.get((kind, attribute))
        if template is None:
            raise AssemblyError(
                f"{self.name}: GetAtt {logical_id}.{attribute} ({kind}) is not resolved locally"
            )
        return template.format(ref=ref, region=region, account=ACCOUNT, name=str(ref).rsplit(":", 1)[-1])

    # intrinsics ------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:  # noqa: PLR0911 - one return per intrinsic
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                variables = {k: self.resolve(v) for k, v in variables.items()}
                return re.sub(
                    r"\$\{([^}]+)\}",
                    lambda m: str(
                        variables[m[1]]
                        if m[1] in variables
                        else self.get_att(*m[1].split(".", 1))
                        if "." in m[1] and not m[1].startswith("AWS::")
                        else self.ref(m[1])
                    ),
                    text,
                )
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::"):
                raise AssemblyError(f"{self.name}: intrinsic {key} is not resolved locally")
        return {k: self.resolve(v) for k, v in value.items()}

    def of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == kind:
                yield logical_id, resource.get("Properties", {})


def load(directory: Path, region: str = "us-east-1") -> Assembly:
    """Read every stack of the assembly (nested ones under their parents)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assembly = Assembly(directory=directory, region=region)
    stacks = [
        (name, artifact)
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    ]
    if not stacks:
        raise AssemblyError(f"{directory}: no stack in the assembly")
    for assets_file in directory.glob("*.assets.json"):
        for asset in json.loads(assets_file.read_text(encoding="utf-8")).get("files", {}).values():
            for destination in asset["destinations"].values():
                assembly.assets[destination["objectKey"]] = asset["source"]["path"]
    for name, artifact in stacks:
        template = json.loads(
            (directory / artifact["properties"]["templateFile"]).read_text(encoding="utf-8")
        )
        stack = _Stack(assembly, name, template, {})
        _attach_nested(stack, directory)
        for each in _walk(stack):
            _read_stack(each, assembly)
    return assembly


def _attach_nested(stack: _Stack, directory: Path) -> None:
    for logical_id, resource in stack.resources.items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            continue
        key = str(stack.resolve(resource["Properties"]["TemplateURL"])).rsplit("/", 1)[-1]
        asset_path = stack.assembly.assets.get(key)
        if not asset_path:
            raise AssemblyError(f"{stack.name}/{logical_id}: nested template {key} not in the assets")
        template = json.loads((directory / asset_path).read_text(encoding="utf-8"))
        nested = _Stack(stack.assembly, _physical(stack.name, logical_id, 100), template, {})
        stack.nested[logical_id] = nested
        _attach_nested(nested, directory)
        raw = resource.get("Properties", {}).get("Parameters", {})
        # Parameters resolve lazily (they may name outputs of sibling stacks).
        nested.parameters = _LazyParameters(stack, raw)


class _LazyParameters(dict[str, Any]):
    def __init__(self, parent: _Stack, raw: dict[str, Any]) -> None:
        super().__init__()
        self._parent, self._raw = parent, raw

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __getitem__(self, key: str) -> Any:
        return self._parent.resolve(self._raw[key])


def _walk(stack: _Stack) -> Iterator[_Stack]:
    yield stack
    for nested in stack.nested.values():
        yield from _walk(nested)


def _read_stack(stack: _Stack, assembly: Assembly) -> None:  # noqa: PLR0912 - one branch per type
    for logical_id, props in stack.of_type("AWS::DynamoDB::Table"):
        name = stack.ref(logical_id)
        table: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            table["GlobalSecondaryIndexes"] = [
                {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
                for index in props["GlobalSecondaryIndexes"]
            ]
        assembly.tables.append(table)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            assembly.ttl[name] = ttl["AttributeName"]
    for logical_id, _props in stack.of_type("AWS::S3::Bucket"):
        assembly.buckets.append(stack.ref(logical_id))
    for logical_id, props in stack.of_type("AWS::KMS::Key"):
        assembly.keys[stack.ref(logical_id)] = str(props.get("Description", ""))
    for _logical_id, props in stack.of_type("AWS::KMS::Alias"):
        assembly.key_aliases[str(stack.resolve(props["AliasName"]))] = str(
            stack.resolve(props["TargetKeyId"])
        )
    for logical_id, props in stack.of_type("AWS::SecretsManager::Secret"):
        assembly.secrets[stack.ref(logical_id).rsplit(":secret:", 1)[-1]] = stack.resolve(props)
    for logical_id, props in stack.of_type("AWS::SSM::Parameter"):
        name = str(stack.resolve(props.get("Name")) or _physical(stack.name, logical_id))
        assembly.parameters[name] = (str(props["Type"]), str(stack.resolve(props["Value"])))
    for _logical_id, props in stack.of_type("AWS::SES::EmailIdentity"):
        assembly.email_identities.append(str(stack.resolve(props["EmailIdentity"])))
    for logical_id, props in stack.of_type("AWS::IAM::Role"):
        arn = stack.get_att(logical_id, "Arn")
        policies = {p["PolicyName"]: stack.resolve(p["PolicyDocument"]) for p in props.get("Policies", [])}
        if props.get("ManagedPolicyArns"):
            raise AssemblyError(f"{stack.name}/{logical_id}: managed policies are not modelled locally")
        assembly.roles[arn] = RoleSpec(
            logical_id=logical_id,
            name=stack.ref(logical_id),
            arn=arn,
            trust_policy=stack.resolve(props["AssumeRolePolicyDocument"]),
            policies=policies,
        )
    for _logical_id, props in stack.of_type("AWS::IAM::Policy"):
        document = stack.resolve(props["PolicyDocument"])
        for role_name in stack.resolve(props.get("Roles", [])):
            role = next(r for r in assembly.roles.values() if r.name == role_name)
            role.policies[str(stack.resolve(props["PolicyName"]))] = document
    for logical_id, props in stack.of_type("AWS::Lambda::Function"):
        name = stack.ref(logical_id)
        asset_path = assembly.assets.get(str(props.get("Code", {}).get("S3Key")))
        if not asset_path:
            raise AssemblyError(f"{stack.name}/{logical_id}: function without a code asset in the assembly")
        variables = stack.resolve(props.get("Environment", {}).get("Variables", {}))
        assembly.functions[name] = FunctionSpec(
            logical_id=logical_id,
            stack=stack.name,
            name=name,
            arn=stack.get_att(logical_id, "Arn"),
            handler=props["Handler"],
            code_dir=(assembly.directory / asset_path).resolve(),
            environment={k: str(v) for k, v in variables.items()},
            role_arn=str(stack.resolve(props["Role"])),
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            layers=tuple(str(layer) for layer in stack.resolve(props.get("Layers", []))),
        )
    versions = dict(stack.of_type("AWS::StepFunctions::StateMachineVersion"))
    aliases = dict(stack.of_type("AWS::StepFunctions::StateMachineAlias"))
    for logical_id, props in stack.of_type("AWS::StepFunctions::StateMachine"):
        definition = stack.resolve(props["DefinitionString"])
        for key, value in stack.resolve(props.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        alias_id = next(
            (
                a
                for a, alias_props in aliases.items()
                if _version_machine(versions, alias_props) == logical_id
            ),
            None,
        )
        assembly.state_machines.append(
            StateMachineSpec(
                logical_id=logical_id,
                stack=stack.name,
                name=stack.get_att(logical_id, "Name"),
                arn=stack.ref(logical_id),
                definition=definition,
                role_arn=str(stack.resolve(props["RoleArn"])),
                alias_name=aliases[alias_id]["Name"] if alias_id else None,
                alias_arn=stack.ref(alias_id) if alias_id else None,
            )
        )
    _read_api(stack, assembly)


def _read_api(stack: _Stack, assembly: Assembly) -> None:
    """API methods with their authorization, and the Cognito app clients (client credentials)."""
    resources = dict(stack.of_type("AWS::ApiGateway::Resource"))

    def path_of(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference and reference["Ref"] in resources:
            props = resources[reference["Ref"]]
            return path_of(props["ParentId"]).rstrip("/") + "/" + str(props["PathPart"])
        return "/"  # the RestApi's root resource (Fn::GetAtt RootResourceId)

    authorizers = dict(stack.of_type("AWS::ApiGateway::Authorizer"))
    for _logical_id, props in stack.of_type("AWS::ApiGateway::Method"):
        authorizer = props.get("AuthorizerId", {})
        authorizer_props = (
            authorizers.get(authorizer.get("Ref", "")) if isinstance(authorizer, dict) else None
        )
        pools = stack.resolve(authorizer_props.get("ProviderARNs", [])) if authorizer_props else []
        assembly.api_methods.append(
            ApiMethodSpec(
                http_method=str(props["HttpMethod"]),
                resource_path=path_of(props["ResourceId"]),
                authorization_type=str(props.get("AuthorizationType", "NONE")),
                scopes=tuple(str(s) for s in stack.resolve(props.get("AuthorizationScopes", []))),
                user_pool_ids=tuple(str(arn).rsplit("/", 1)[-1] for arn in pools),
                api_key_required=bool(props.get("ApiKeyRequired", False)),
            )
        )
    for logical_id, props in stack.of_type("AWS::Cognito::UserPoolClient"):
        assembly.pool_clients.append(
            PoolClientSpec(
                name=str(stack.resolve(props.get("ClientName", logical_id))),
                client_id=str(stack.ref(logical_id)),
                pool_id=str(stack.resolve(props["UserPoolId"])),
                scopes=tuple(str(s) for s in stack.resolve(props.get("AllowedOAuthScopes", []))),
            )
        )


def _version_machine(versions: dict[str, dict[str, Any]], alias_props: dict[str, Any]) -> str | None:
    version_ref = alias_props.get("DeploymentPreference", {}).get("StateMachineVersionArn", {})
    version_id = (version_ref.get("Fn::GetAtt") or [version_ref.get("Ref")])[0]
    machine = versions.get(version_id, {}).get("StateMachineArn", {})
    return machine.get("Ref") if isinstance(machine, dict) else None
