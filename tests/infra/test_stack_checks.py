"""The whole stack as CI and a reviewer see it: cdk-nag clean, cfn-lint clean, least privilege."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.api import lint

from functions.registry import ROOT, WORKFLOWS, Resource
from functions.shared.approvers import APPROVER_FIELDS, ApproverDirectory
from functions.shared.config import needed_by
from functions.shared.llm.factory import SECRET_PLACEHOLDER
from functions.shared.llm.settings import LLMSettings
from functions.shared.log_payloads import LOGS_PREFIX
from infra.api import API_RESOURCES, LINK_KEY_ROTATION_RESOURCES, SWEEPER_RESOURCES
from infra.constants import API_HANDLER, FEATURE_FLAGS, LINK_KEY_ROTATION_HANDLER, SWEEPER_HANDLER
from infra.nag import checks
from infra.packaging import code_asset_files
from infra.stack import StepwiseStack
from infra.stage_context import StageContextError
from tests.infra.conftest import (
    APPROVERS_JSON,
    ESCALATION_APPROVER,
    NO_BUNDLING,
    SENDER_EMAIL,
    STAGE_CONTEXT,
    offline_app,
)
from tests.infra.templates import merge

#: cfn-lint warnings that CDK itself generates; anything else fails.
CDK_GENERATED_WARNINGS = {"W3005": "CDK adds DependsOn on roles that a GetAtt already implies"}
#: Where the "ci" stage's approver directory lives in SSM (infra.constants.approvers_parameter_path).
PARAMETER_PATH = "/stepwise/ci/approvers"
#: CloudFormation allows 500 resources per template; leave room for a workflow to grow.
RESOURCE_BUDGET = 400
#: The only actions allowed on Resource "*" (no resource-level permissions exist for them).
STAR_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@dataclass
class Synthesized:
    template_texts: dict[str, str]  # file name → text of every template synth wrote
    template_of: dict[str, str]  # "stack" or a workflow name → its template's file name
    merged: dict[str, Any]  # all templates merged (tests/infra/templates.py)
    report: dict[str, Any] | None

    @property
    def resources(self) -> dict[str, Any]:
        # A refused synth wrote no template: every check that reads one fails instead of passing empty.
        assert self.report is None, "synth refused the stack: see test_cdk_nag_reports_no_unacknowledged..."
        assert self.merged
        return self.merged


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # Given the stack exactly as app.py builds it, with the AwsSolutions pack enabled
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = offline_app(outdir)
    stack = StepwiseStack(app, "Stepwise-ci", stage="ci")
    checks(app)
    # When it is synthesized (an unacknowledged finding makes synth raise)
    try:
        app.synth()
        report = None
    except RuntimeError:
        report = json.loads((outdir / "validation-report.json").read_text())
        return Synthesized(template_texts={}, template_of={}, merged={}, report=report)
    texts = {path.name: path.read_text() for path in sorted(Path(outdir).glob("*.template.json"))}
    template_of = {"stack": stack.template_file}
    template_of |= {name: nested.template_file for name, nested in stack.workflow_stacks.items()}
    return Synthesized(
        template_texts=texts, template_of=template_of, merged=merge(stack).resources, report=report
    )


def test_cdk_nag_reports_no_unacknowledged_aws_solutions_finding(synthesized: Synthesized) -> None:
    findings = []
    for plugin in (synthesized.report or {}).get("pluginReports", []):
        for violation in plugin["violations"]:
            paths = [c["constructPath"] for c in violation["violatingConstructs"]]
            findings.append(f"{violation['ruleName']}: {paths}")
    assert findings == []


def test_synth_writes_the_stack_template_and_one_template_per_workflow(synthesized: Synthesized) -> None:
    assert synthesized.report is None
    # one template per workflow (its nested stack) and the stack's own (storage, layers, API)
    assert sorted(synthesized.template_of) == sorted(["stack", *WORKFLOWS])
    assert set(synthesized.template_of.values()) == set(synthesized.template_texts)


def test_every_template_stays_well_inside_cloudformations_resource_limit(synthesized: Synthesized) -> None:
    counts = {name: len(json.loads(text)["Resources"]) for name, text in synthesized.template_texts.items()}
    assert max(counts.values()) <= RESOURCE_BUDGET, counts


@pytest.mark.parametrize("template", ["stack", *WORKFLOWS])
def test_every_template_passes_cfn_lint(synthesized: Synthesized, template: str) -> None:
    text = synthesized.template_texts[synthesized.template_of[template]]
    matches = lint(text, regions=["us-east-1"])
    unexpected = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in CDK_GENERATED_WARNINGS]
    assert unexpected == []


def test_wildcard_resources_carry_only_actions_without_resource_level_permissions(
    synthesized: Synthesized,
) -> None:
    for logical_id, resource in synthesized.resources.items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert set(actions) <= STAR_ACTIONS, (logical_id, actions)


def test_no_role_uses_an_aws_managed_policy(synthesized: Synthesized) -> None:
    roles = [r for r in synthesized.resources.values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    assert all("ManagedPolicyArns" not in role["Properties"] for role in roles)


def test_only_llm_steps_get_the_anthropic_layer_and_key(synthesized: Synthesized) -> None:
    functions = {
        r["Properties"]["Handler"]: r
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    layers = {lid for lid, r in synthesized.resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"}
    llm_layer = next(lid for lid in layers if "Llm" in lid)
    base_layer = next(lid for lid in layers if "Base" in lid)
    secret = next(
        lid
        for lid, r in synthesized.resources.items()
        if r["Type"] == "AWS::SecretsManager::Secret" and "Anthropic" in lid
    )
    for workflow in WORKFLOWS.values():
        for step in workflow.steps:
            function = functions[step.handler]
            attached = {layer["Ref"] for layer in function["Properties"]["Layers"]}
            role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
            reads_key = any(
                {"Ref": secret} == s["Resource"]
                for r in synthesized.resources.values()
                if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
                for s in r["Properties"]["PolicyDocument"]["Statement"]
            )
            assert base_layer in attached, step.name
            assert (llm_layer in attached) is step.uses_llm, step.name
            assert reads_key is step.uses_llm, step.name


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def test_link_signing_key_reaches_only_the_steps_that_sign_links(synthesized: Synthesized) -> None:
    secret = next(
        lid
        for lid, r in synthesized.resources.items()
        if r["Type"] == "AWS::SecretsManager::Secret" and "Signing" in lid
    )
    readers: set[str] = set()
    for resource in synthesized.resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == {"Ref": secret}:
                readers.update(role["Ref"] for role in resource["Properties"]["Roles"])
    signing_steps = [
        s for wf in WORKFLOWS.values() for s in wf.steps if Resource.APPROVAL_LINKS in s.resources
    ]
    assert signing_steps
    # Beyond the steps, only the HTTP API (verifies link signatures), the SLA sweeper (signs
    # reminder and escalation links) and the key ring's rotation reach it: all in infra/api.py
    # (tests/infra/test_api.py, tests/infra/test_api_hardening.py).
    api_readers = {role for role in readers if role.startswith("Api")}
    step_readers = readers - api_readers
    assert {role[: -len("Role") - 8] for role in api_readers} == {
        "ApiApiFunction",
        "ApiSweeperFunction",
        "ApiLinkKeyRotationFunction",
    }
    assert len(step_readers) == len(signing_steps)
    # each reader is the role of one signing step: its id carries the workflow (nested stack) and step
    expected = {
        (_pascal(wf.name), _pascal(s.name))
        for wf in WORKFLOWS.values()
        for s in wf.steps
        if Resource.APPROVAL_LINKS in s.resources
    }
    assert {
        next(pair for pair in expected if role.startswith(f"{pair[0]}Workflow/Workflow{pair[1]}"))
        for role in step_readers
    } == expected


def test_the_sender_address_is_an_ses_identity_and_the_only_one_steps_may_send_from(
    synthesized: Synthesized,
) -> None:
    identities = [r for r in synthesized.resources.values() if r["Type"] == "AWS::SES::EmailIdentity"]
    assert [i["Properties"]["EmailIdentity"] for i in identities] == [SENDER_EMAIL]
    send_resources = [
        statement["Resource"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if "ses:SendEmail"
        in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]
    assert send_resources
    assert all(f"identity/{SENDER_EMAIL}" in json.dumps(resource) for resource in send_resources)


def test_every_lambda_handler_and_every_asl_file_is_in_the_code_asset(synthesized: Synthesized) -> None:
    # Given what the code asset ships (the same files CDK stages: tests/infra/test_code_asset.py)
    shipped = {path.relative_to(ROOT).as_posix() for path in code_asset_files()}
    handlers = {
        r["Properties"]["Handler"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    # Then every function's handler module (steps, API, sweeper: parent and nested templates) is in it
    assert "functions.api.app.handler" in handlers
    for handler in handlers:
        module = handler.rsplit(".", 1)[0].replace(".", "/")
        assert {f"{module}.py", f"{module}/__init__.py"} & shipped, handler
    # ... and so is the ASL file of every workflow (the API reads it: GET /executions/{id})
    for spec in WORKFLOWS.values():
        assert spec.asl_path.relative_to(ROOT).as_posix() in shipped, spec.name


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants_by_role(resources: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """Role id → every (action, resource as JSON) its inline policies allow."""
    grants: dict[str, set[tuple[str, str]]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            pairs = {
                (action, json.dumps(target, sort_keys=True))
                for action in _as_list(statement["Action"])
                for target in _as_list(statement["Resource"])
            }
            for role in resource["Properties"]["Roles"]:
                grants.setdefault(role["Ref"], set()).update(pairs)
    return grants


def _bucket_arns(resources: dict[str, Any], construct_id: str) -> tuple[str, str]:
    """(the bucket's ARN, the ARN of its objects) as JSON, the way the merged policies spell them."""
    buckets = [lid for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
    (bucket,) = [lid for lid in buckets if construct_id in lid]
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    objects = {"Fn::Join": ["", [arn, "/*"]]}
    return json.dumps(arn, sort_keys=True), json.dumps(objects, sort_keys=True)


def test_every_reader_of_the_files_bucket_may_also_list_it(synthesized: Synthesized) -> None:
    # Given the files bucket (without s3:ListBucket, S3 answers 403 instead of 404 for a missing key)
    bucket, objects = _bucket_arns(synthesized.resources, "FilesBucket")
    grants = _grants_by_role(synthesized.resources)
    readers = [role for role, pairs in grants.items() if ("s3:GetObject", objects) in pairs]

    # Then every role that reads its objects (steps, API, sweeper) may list the bucket itself
    assert any(role.startswith("ApiSweeper") for role in readers)
    assert any(role.startswith("ApiApiFunction") for role in readers)
    assert len(readers) > 2
    missing = [role for role in readers if ("s3:ListBucket", bucket) not in grants[role]]
    assert missing == []


def test_every_step_may_put_its_large_log_payloads_and_only_audit_steps_more(
    synthesized: Synthesized,
) -> None:
    # Given the audit bucket, where step_handler logs any step's large input or output under logs/
    bucket, objects = _bucket_arns(synthesized.resources, "AuditBucket")
    arn = json.loads(bucket)
    logs = json.dumps({"Fn::Join": ["", [arn, f"/{LOGS_PREFIX}*"]]}, sort_keys=True)
    grants = _grants_by_role(synthesized.resources)
    functions = {
        r["Properties"]["Handler"]: r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    for workflow in WORKFLOWS.values():
        for step in workflow.steps:
            audit = {
                pair
                for pair in grants[functions[step.handler]]
                if bucket in pair[1][:-1] or pair[1] == bucket
            }
            # Then every step may put objects under logs/ ...
            assert ("s3:PutObject", logs) in audit, step.handler
            # ... and only a step that names the audit bucket may put anywhere else in it
            wider = {("s3:PutObject", objects)} if Resource.AUDIT_BUCKET in step.resources else set()
            assert audit == {("s3:PutObject", logs)} | wider, step.handler


def test_the_anthropic_secret_starts_as_an_empty_key_not_a_random_password(synthesized: Synthesized) -> None:
    # Given the Anthropic secret as CloudFormation will create it
    (secret,) = [
        r["Properties"]
        for lid, r in synthesized.resources.items()
        if r["Type"] == "AWS::SecretsManager::Secret" and "Anthropic" in lid
    ]
    generate = secret["GenerateSecretString"]

    # Then it is the JSON placeholder with an empty api_key (the factory's "no key configured"), and
    # the generated password goes to another field, never to the key
    assert json.loads(generate["SecretStringTemplate"]) == {"api_key": ""}
    assert generate["SecretStringTemplate"] == SECRET_PLACEHOLDER
    assert generate["GenerateStringKey"] not in {"api_key", "ANTHROPIC_API_KEY", "anthropic_api_key"}


def _llm_variables(resources: frozenset[str]) -> set[str]:
    """The LLM settings' variables (own model, ``STEPWISE_LLM_*`` or an alias) these resources imply."""
    needed = set()
    for name, info in LLMSettings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("resource") in resources:
            needed.add(str(info.validation_alias or f"STEPWISE_LLM_{name.upper()}"))
    return needed


def test_every_function_gets_every_variable_its_resources_imply_and_none_points_at_localhost(
    synthesized: Synthesized,
) -> None:
    # Given each Lambda's template environment, and what it touches: a step's registry resources,
    # the API's and the sweeper's grants
    steps = {step.handler: step for spec in WORKFLOWS.values() for step in spec.steps}
    others = {
        API_HANDLER: API_RESOURCES,
        SWEEPER_HANDLER: SWEEPER_RESOURCES,
        LINK_KEY_ROTATION_HANDLER: LINK_KEY_ROTATION_RESOURCES,
    }
    functions = [
        r["Properties"] for r in synthesized.resources.values() if r["Type"] == "AWS::Lambda::Function"
    ]
    assert {f["Handler"] for f in functions} == set(steps) | set(others)
    for function in functions:
        variables = function["Environment"]["Variables"]
        handler = function["Handler"]
        resources = frozenset(
            str(r) for r in (steps[handler].resources if handler in steps else others[handler])
        )
        # Then every variable those resources imply (annotated on the settings fields) is set
        needed = needed_by(resources, step=handler in steps) | _llm_variables(resources)
        assert needed - set(variables) == set(), handler
        # ... and no value anywhere sends a link or a caller to this machine
        rendered = json.dumps(variables)
        assert "localhost" not in rendered, handler
        assert "127.0.0.1" not in rendered, handler


def test_approval_links_point_at_the_api_in_every_function_that_builds_them(synthesized: Synthesized) -> None:
    # Given the API's stage URL, as the API function gets it
    functions = {
        r["Properties"]["Handler"]: r["Properties"]["Environment"]["Variables"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    api_url = functions[API_HANDLER]["STEPWISE_APPROVAL_LINK_BASE_URL"]
    assert "execute-api" in json.dumps(api_url)
    (rest_api,) = [lid for lid, r in synthesized.resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert {"Ref": rest_api} in api_url["Fn::Join"][1]

    # Then every step that signs links (a nested stack: the RestApi id arrives as a parameter) and the
    # sweeper build them on the same URL, and the sweeper escalates to the stage's approver
    signers = [
        s.handler for spec in WORKFLOWS.values() for s in spec.steps if Resource.APPROVAL_LINKS in s.resources
    ]
    assert signers
    for handler in [*signers, SWEEPER_HANDLER]:
        assert functions[handler]["STEPWISE_APPROVAL_LINK_BASE_URL"] == api_url, handler
    assert functions[SWEEPER_HANDLER]["STEPWISE_ESCALATION_APPROVER"] == ESCALATION_APPROVER
    assert all(variables["STEPWISE_SENDER_EMAIL"] == SENDER_EMAIL for variables in functions.values())


def test_the_stage_directory_is_one_ssm_parameter_per_workflow_not_an_environment_variable(
    synthesized: Synthesized,
) -> None:
    # Given the SSM parameters the stack writes from the context's "approvers" directory
    parameters = {
        r["Properties"]["Name"]: r["Properties"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::SSM::Parameter"
    }
    expected = ApproverDirectory.model_validate_json(APPROVERS_JSON)

    # Then there is one Standard String parameter per workflow with approvers, under the stage's path,
    # holding that workflow's part (read back, it is the context's directory)
    assert set(parameters) == {f"{PARAMETER_PATH}/{w}" for w in APPROVER_FIELDS}
    assert {(p["Type"], p["Tier"]) for p in parameters.values()} == {("String", "Standard")}
    sections = {name.rsplit("/", 1)[-1]: p["Value"] for name, p in parameters.items()}
    assert ApproverDirectory.model_validate({w: json.loads(v) for w, v in sections.items()}) == expected
    assert all(len(v.encode()) <= 4096 for v in sections.values())
    # ... and no function carries the directory in its environment, only where to find it
    for resource in synthesized.resources.values():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            assert "STEPWISE_APPROVERS" not in variables
            assert variables["STEPWISE_APPROVERS_PARAMETER_PATH"] == PARAMETER_PATH


def _directory_reads(pairs: set[tuple[str, str]]) -> set[str]:
    """The workflows whose directory parameter these grants may read (ssm:GetParameter by ARN)."""
    reads = set()
    for action, target in pairs:
        if action.startswith("ssm:"):
            assert action == "ssm:GetParameter", (action, target)
            marker = f":parameter{PARAMETER_PATH}/"
            rendered = json.loads(target)
            tail = rendered["Fn::Join"][1][-1] if isinstance(rendered, dict) else rendered
            assert marker in tail, target
            reads.add(tail.split(marker, 1)[1])
    return reads


#: Approval requests that go to the client named in the run's input, not to staff from the
#: approver directory: case study asks the client for answers, then for approval to publish.
ASK_THE_CLIENT = {"case_study.request_answers", "case_study.request_client_approval"}


def test_only_steps_that_ask_a_staff_approver_read_the_directory_and_only_their_workflow_s(
    synthesized: Synthesized,
) -> None:
    # Given every role's grants, and the function each role belongs to
    grants = _grants_by_role(synthesized.resources)
    roles = {
        r["Properties"]["Handler"]: r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }

    # Then a step naming Resource.APPROVER_DIRECTORY may read its own workflow's parameter, no other
    # step reads any, and the API (start requests) and the sweeper (escalation) read every workflow's
    for spec in WORKFLOWS.values():
        for step in spec.steps:
            wanted = {spec.name} if Resource.APPROVER_DIRECTORY in step.resources else set()
            assert _directory_reads(grants.get(roles[step.handler], set())) == wanted, step.handler
    for handler in (API_HANDLER, SWEEPER_HANDLER):
        assert _directory_reads(grants[roles[handler]]) == set(APPROVER_FIELDS), handler
    # ... and the steps that do read it are exactly those that send an approval link to staff
    readers = {
        f"{spec.name}.{s.name}" for spec in WORKFLOWS.values() for s in spec.steps
        if Resource.APPROVER_DIRECTORY in s.resources
    }  # fmt: skip
    asks_someone = {
        f"{spec.name}.{s.name}" for spec in WORKFLOWS.values() for s in spec.steps
        if Resource.APPROVAL_LINKS in s.resources
    }  # fmt: skip
    assert asks_someone >= ASK_THE_CLIENT, "ASK_THE_CLIENT names a step that no longer asks anyone"
    assert readers == asks_someone - ASK_THE_CLIENT, "an approval request to staff reads the directory"


def _cloud_context(**change: object) -> dict[str, object]:
    directory = json.loads(APPROVERS_JSON)
    for path, value in change.items():
        workflow, field = path.split("__")
        directory[workflow][field] = value
    return {
        "senderEmail": SENDER_EMAIL,
        "escalationApprover": ESCALATION_APPROVER,
        "approvers": directory,
        "apiClients": json.loads((ROOT / "examples" / "api_clients.json").read_text(encoding="utf-8")),
    }


@pytest.mark.parametrize(
    "placeholder",
    [
        "sales-lead@example.com",
        "sales-lead@example.net",
        "sales-lead@example.org",
        "sales-lead@acme.example",
        "sales-lead@acme.test",
        "sales-lead@acme.invalid",
        "sales-lead@acme.localhost",
    ],
)
def test_a_cloud_stage_refuses_a_directory_with_placeholder_approvers(
    tmp_path: Path, placeholder: str
) -> None:
    # Given a directory whose sales approvers escalate to an address at a reserved domain
    entry = {
        "default": "sales-lead@acme-demo.com",
        "allowed": ["sales-lead@acme-demo.com"],
        "escalation": [placeholder],
    }
    context = _cloud_context(sales_outreach__approver_email=entry)
    app = cdk.App(outdir=str(tmp_path), context={**FEATURE_FLAGS, **NO_BUNDLING, **context})

    # When / Then a cloud stage is refused, naming the context key and the address
    with pytest.raises(StageContextError, match="placeholder addresses") as refused:
        StepwiseStack(app, "Stepwise-prod", stage="prod")
    assert placeholder in str(refused.value)
    assert "context 'approvers'" in str(refused.value)


def test_the_local_stage_may_keep_placeholder_approvers(tmp_path: Path) -> None:
    entry = {"default": "sales-lead@acme-demo.com", "allowed": ["sales-lead@acme-demo.com"]}
    app = cdk.App(
        outdir=str(tmp_path),
        context={**FEATURE_FLAGS, **NO_BUNDLING, **_cloud_context(sales_outreach__approver_email=entry)},
    )
    stack = StepwiseStack(app, "Stepwise-local", stage="local")
    assert "sales-lead@acme-demo.com" in stack.context.approvers


def test_a_workflow_directory_over_4_kb_refuses_synthesis_naming_the_workflow(tmp_path: Path) -> None:
    # Given a no_show manager list of 200 addresses (well over one Standard parameter's 4 KB)
    many = [f"manager-{n:03d}@acme-demo.com" for n in range(200)]
    context = _cloud_context(no_show__manager_email={"default": many[0], "allowed": many})
    app = cdk.App(outdir=str(tmp_path), context={**FEATURE_FLAGS, **NO_BUNDLING, **context})

    # When / Then synthesis stops before building anything, saying which workflow and how big
    with pytest.raises(StageContextError, match=r"no_show: \d+ bytes") as refused:
        StepwiseStack(app, "Stepwise-prod", stage="prod")
    assert "4096" in str(refused.value)


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({}, ["senderEmail", "escalationApprover"]),
        ({"senderEmail": "outreach@stepwise.example"}, ["senderEmail", "escalationApprover"]),
        ({"senderEmail": SENDER_EMAIL, "escalationApprover": "boss@example.com"}, ["escalationApprover"]),
        (
            {"senderEmail": SENDER_EMAIL, "escalationApprover": ESCALATION_APPROVER,
             "approvalLinkBaseUrl": "http://localhost:8000"},
            ["approvalLinkBaseUrl"],
        ),
        (
            {"senderEmail": SENDER_EMAIL, "escalationApprover": ESCALATION_APPROVER},
            ["approvers", "apiClients"],
        ),
        (
            {"senderEmail": SENDER_EMAIL, "escalationApprover": ESCALATION_APPROVER,
             "approvers": STAGE_CONTEXT["approvers"]},
            ["apiClients"],
        ),
    ],
)  # fmt: skip
def test_a_cloud_stage_without_real_settings_is_refused_naming_the_context_key(
    tmp_path: Path, context: dict[str, str], named: list[str]
) -> None:
    # Given an app whose context lacks, or has placeholders for, the per-stage settings
    app = cdk.App(outdir=str(tmp_path), context={**FEATURE_FLAGS, **NO_BUNDLING, **context})

    # When / Then a non-local stage is refused, naming each key to set
    with pytest.raises(StageContextError) as refused:
        StepwiseStack(app, "Stepwise-prod", stage="prod")
    for key in named:
        assert f"context {key!r}" in str(refused.value)
    assert "-c " in str(refused.value)


def test_the_local_stage_synthesizes_with_the_functions_defaults(tmp_path: Path) -> None:
    # Given no per-stage context at all
    app = cdk.App(outdir=str(tmp_path), context={**FEATURE_FLAGS, **NO_BUNDLING})

    # When / Then the local stage takes the laptop defaults (the functions accept them there)
    stack = StepwiseStack(app, "Stepwise-local", stage="local")
    assert stack.context.sender_email == "outreach@stepwise.example"
    assert stack.context.approval_link_base_url is None
