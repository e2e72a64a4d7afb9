"""The synthesized Stepwise stack: one Lambda per registered step, ASL kept verbatim, least privilege.

The stack is synthesized once for the whole module (synth takes seconds); every test reads the
same template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from functions.registry import RESOURCE_PLACEHOLDERS, WORKFLOWS, Resource, StepSpec, WorkflowSpec, all_steps
from functions.shared.tables import TABLES, TableName
from infra.packaging import RUNTIME
from infra.stack import StepwiseStack
from infra.workflow import MAP_RESULTS, distributed_maps
from tests.infra.conftest import offline_app
from tests.infra.templates import merge, qualified_id

CONFIG_ENV_NAMES = {
    "STEPWISE_CRM_TABLE",
    "STEPWISE_APPROVALS_TABLE",
    "STEPWISE_IDEMPOTENCY_TABLE",
    "STEPWISE_FILES_BUCKET",
    "STEPWISE_AUDIT_BUCKET",
    "STEPWISE_SENDER_EMAIL",
    "STEPWISE_APPROVALS_KEY_ALIAS",
    "STEPWISE_STAGE",
}


@dataclass(frozen=True)
class Synthesized:
    stack: StepwiseStack
    resources: Mapping[str, Any]  # logical id → resource, from the synthesized template

    def logical_id(self, construct: Any) -> str:
        return qualified_id(construct)

    def function_id(self, workflow: WorkflowSpec, step: StepSpec) -> str:
        return self.logical_id(self.stack.workflows[workflow.name].functions[step.name])

    def storage_ids(self) -> dict[Resource, str]:
        storage = self.stack.storage
        return {
            Resource.CRM_TABLE: self.logical_id(storage.tables[TableName.CRM]),
            Resource.APPROVALS_TABLE: self.logical_id(storage.tables[TableName.APPROVALS]),
            Resource.IDEMPOTENCY_TABLE: self.logical_id(storage.tables[TableName.IDEMPOTENCY]),
            Resource.BILLING_TABLE: self.logical_id(storage.tables[TableName.BILLING]),
            Resource.CALENDAR_TABLE: self.logical_id(storage.tables[TableName.CALENDAR]),
            Resource.RUN_LEDGER_TABLE: self.logical_id(storage.tables[TableName.RUN_LEDGER]),
            Resource.FILES_BUCKET: self.logical_id(storage.files_bucket),
            Resource.AUDIT_BUCKET: self.logical_id(storage.audit_bucket),
            Resource.TOKEN_SEAL: self.logical_id(storage.approvals_key),
            Resource.TOKEN_OPEN: self.logical_id(storage.approvals_key),
        }

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}

    def statements_of_role(self, role_id: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    app = offline_app(tmp_path_factory.mktemp("cdk.out"))
    stack = StepwiseStack(app, "Stepwise-test", stage="test")
    return Synthesized(stack=stack, resources=merge(stack).resources)


def _actions(statement: Mapping[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: Mapping[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _referenced_ids(value: Any) -> set[str]:
    """Logical ids a CloudFormation value points at through ``Fn::GetAtt`` or ``Ref``."""
    if isinstance(value, list):
        return set().union(*(_referenced_ids(item) for item in value)) if value else set()
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        if "Ref" in value:
            return {value["Ref"]}
        return _referenced_ids(list(value.values()))
    return set()


def _render(value: Any, placeholder_of: Mapping[str, str]) -> str:
    """Turn a CloudFormation string value back into text, a function ARN into ``${<placeholder>}``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part, placeholder_of) for part in parts)
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return "${" + placeholder_of[value["Fn::GetAtt"][0]] + "}"
    if "Ref" in value and value["Ref"] in placeholder_of:
        return "${" + placeholder_of[value["Ref"]] + "}"
    raise AssertionError(f"unexpected token in a state machine definition: {value!r}")


def _state_machine(synthesized: Synthesized, workflow: WorkflowSpec) -> dict[str, Any]:
    logical_id = synthesized.logical_id(synthesized.stack.workflows[workflow.name].state_machine)
    return cast(dict[str, Any], synthesized.resources[logical_id])


def _role_of_function(synthesized: Synthesized, workflow: WorkflowSpec, step: StepSpec) -> str:
    function = synthesized.resources[synthesized.function_id(workflow, step)]
    return cast(str, function["Properties"]["Role"]["Fn::GetAtt"][0])


WORKFLOW_SPECS = list(WORKFLOWS.values())
STEP_CASES = [pytest.param(wf, step, id=f"{wf.name}.{step.name}") for wf, step in all_steps()]


def test_every_registered_step_is_deployed_as_exactly_one_lambda_with_its_handler(
    synthesized: Synthesized,
) -> None:
    # Given the step registry
    expected_handlers = sorted(step.handler for _, step in all_steps())

    # When the stack is synthesized
    functions = synthesized.of_type("AWS::Lambda::Function")
    # the HTTP API and the approval sweeper are not steps (infra/api.py, tests/infra/test_api.py)
    api_functions = {
        lid for lid, fn in functions.items() if fn["Properties"]["Handler"].startswith("functions.api.")
    }
    step_functions = {
        lid: fn
        for lid, fn in functions.items()
        if fn["Properties"]["Handler"].startswith("functions.") and lid not in api_functions
    }
    handlers = sorted(fn["Properties"]["Handler"] for fn in step_functions.values())

    # Then there is one function per step, each running that step's handler
    assert handlers == expected_handlers
    # and the only other function is CDK's provider that empties non-prod buckets on delete
    others = set(functions) - set(step_functions) - api_functions
    assert all(lid.startswith("CustomS3AutoDeleteObjects") for lid in others), others


@pytest.mark.parametrize(("workflow", "step"), STEP_CASES)
def test_a_step_lambda_is_configured_from_its_step_spec(
    synthesized: Synthesized, workflow: WorkflowSpec, step: StepSpec
) -> None:
    # Given a registered step
    # When the stack is synthesized
    props = synthesized.resources[synthesized.function_id(workflow, step)]["Properties"]

    # Then its function runs Python 3.13 on ARM with the spec's limits, traced and configured
    assert props["Handler"] == step.handler
    assert props["Runtime"] == RUNTIME.name
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == step.timeout_seconds
    assert props["MemorySize"] == step.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    environment = props["Environment"]["Variables"]
    assert environment["POWERTOOLS_SERVICE_NAME"] == "stepwise"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "Stepwise"
    assert "POWERTOOLS_LOG_LEVEL" in environment
    assert set(environment) >= CONFIG_ENV_NAMES
    assert environment["STEPWISE_STAGE"] == "test"
    # and it logs to its own log group with a retention
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert synthesized.resources[log_group_id]["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("workflow", WORKFLOW_SPECS, ids=lambda wf: wf.name)
def test_state_machine_definition_is_the_asl_file_with_each_placeholder_bound_to_its_step(
    synthesized: Synthesized, workflow: WorkflowSpec
) -> None:
    # Given the workflow's ASL file and its step functions' logical ids
    asl = json.loads(Path(workflow.asl_path).read_text(encoding="utf-8"))
    placeholder_of = {synthesized.function_id(workflow, step): step.placeholder for step in workflow.steps}

    # When the synthesized definition is rendered back, function ARNs replaced by placeholders (and
    # the files bucket's name, where a Distributed Map names it, by its own)
    props = _state_machine(synthesized, workflow)["Properties"]
    bucket = props.get("DefinitionSubstitutions", {}).get("FilesBucketName")
    if bucket is not None:
        assert "FilesBucket" in bucket["Ref"], bucket
        placeholder_of = {**placeholder_of, bucket["Ref"]: "FilesBucketName"}
    definition = _render(props["DefinitionString"], placeholder_of)
    substitutions = {
        name: _render(value, placeholder_of)
        for name, value in props.get("DefinitionSubstitutions", {}).items()
    }
    for name, rendered in substitutions.items():
        definition = definition.replace("${" + name + "}", rendered)

    # Then every placeholder is bound to the function of the step it names
    named = [name for name in RESOURCE_PLACEHOLDERS if "${" + name + "}" in json.dumps(asl)]
    assert substitutions == {
        name: "${" + name + "}" for name in [*(step.placeholder for step in workflow.steps), *named]
    }
    # and the definition is exactly the ASL file
    assert json.loads(definition) == asl


@pytest.mark.parametrize("workflow", WORKFLOW_SPECS, ids=lambda wf: wf.name)
def test_state_machine_is_standard_traced_and_logs_without_execution_data(
    synthesized: Synthesized, workflow: WorkflowSpec
) -> None:
    # Given / When the synthesized state machine
    props = _state_machine(synthesized, workflow)["Properties"]

    # Then
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False


@pytest.mark.parametrize("workflow", WORKFLOW_SPECS, ids=lambda wf: wf.name)
def test_state_machine_role_may_invoke_only_its_own_step_functions(
    synthesized: Synthesized, workflow: WorkflowSpec
) -> None:
    # Given the workflow's step functions
    own_functions = {synthesized.function_id(workflow, step) for step in workflow.steps}

    # When the state machine role's statements are collected
    role_id = _state_machine(synthesized, workflow)["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invoke_statements = [
        statement
        for statement in synthesized.statements_of_role(role_id)
        if any(action.startswith("lambda:") for action in _actions(statement))
    ]
    resources = [resource for statement in invoke_statements for resource in _resources(statement)]

    # Then it may invoke exactly those functions (and their versions), never "*"
    assert invoke_statements
    assert all(_actions(statement) == ["lambda:InvokeFunction"] for statement in invoke_statements)
    assert all(isinstance(resource, dict) for resource in resources), resources
    assert set().union(*(_referenced_ids(resource) for resource in resources)) == own_functions


def test_tables_match_their_schemas_with_pitr_and_ttl_where_declared(synthesized: Synthesized) -> None:
    for schema in TABLES:
        # Given a declared table schema
        # When the stack is synthesized
        table = synthesized.stack.storage.tables[schema.setting]
        props = synthesized.resources[synthesized.logical_id(table)]["Properties"]

        # Then the table is on-demand, backed up continuously, encrypted, keyed as declared
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
        expected_keys = [{"AttributeName": schema.partition_key, "KeyType": "HASH"}]
        if schema.sort_key:
            expected_keys.append({"AttributeName": schema.sort_key, "KeyType": "RANGE"})
        assert props["KeySchema"] == expected_keys
        # and expires items through the declared TTL attribute, if any
        if schema.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {
                "AttributeName": schema.ttl_attribute,
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in props
        # and has exactly the declared global indexes
        indexes = {index["IndexName"]: index for index in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {index.name for index in schema.indexes}
        for index in schema.indexes:
            assert indexes[index.name]["KeySchema"][0] == {
                "AttributeName": index.partition_key,
                "KeyType": "HASH",
            }
            assert indexes[index.name]["Projection"] == {"ProjectionType": index.projection}


def test_buckets_block_public_access_and_are_versioned_and_encrypted(synthesized: Synthesized) -> None:
    # Given the files and audit buckets
    storage = synthesized.stack.storage
    for bucket in (storage.files_bucket, storage.audit_bucket):
        # When the stack is synthesized
        props = synthesized.resources[synthesized.logical_id(bucket)]["Properties"]

        # Then nothing about them is public, old versions are kept, objects are encrypted
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_buckets_refuse_requests_without_tls(synthesized: Synthesized) -> None:
    # Given the bucket policies
    storage = synthesized.stack.storage
    bucket_ids = {synthesized.logical_id(storage.files_bucket), synthesized.logical_id(storage.audit_bucket)}
    policies = {
        policy["Properties"]["Bucket"]["Ref"]: policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in synthesized.of_type("AWS::S3::BucketPolicy").values()
    }

    # Then every bucket denies plain-HTTP requests
    for bucket_id in bucket_ids:
        assert any(
            statement["Effect"] == "Deny"
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in policies[bucket_id]
        )


def test_approvals_key_rotates_and_has_an_alias(synthesized: Synthesized) -> None:
    # Given / When
    key_id = synthesized.logical_id(synthesized.stack.storage.approvals_key)

    # Then
    assert synthesized.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    aliases = synthesized.of_type("AWS::KMS::Alias").values()
    assert any(alias["Properties"]["TargetKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} for alias in aliases)


@pytest.mark.parametrize(("workflow", "step"), STEP_CASES)
def test_a_step_role_reaches_only_the_storage_its_spec_names(
    synthesized: Synthesized, workflow: WorkflowSpec, step: StepSpec
) -> None:
    # Given the storage resources a step declares
    storage_ids = synthesized.storage_ids()
    expected = {storage_ids[resource] for resource in step.resources if resource in storage_ids}
    # ... plus the audit bucket, for every step: its logs/ prefix only, where step_handler puts large
    # payloads (the scope is checked in tests/infra/test_stack_checks.py)
    expected.add(storage_ids[Resource.AUDIT_BUCKET])

    # When its role's statements are collected
    statements = synthesized.statements_of_role(_role_of_function(synthesized, workflow, step))
    reached = set().union(*(_referenced_ids(_resources(statement)) for statement in statements))
    dynamodb_reached = set().union(
        *(
            _referenced_ids(_resources(statement))
            for statement in statements
            if any(action.startswith("dynamodb:") for action in _actions(statement))
        )
    )
    sends_email = any("ses:SendEmail" in _actions(statement) for statement in statements)

    # Then it reaches exactly those tables, buckets and keys, and sends email only if it declares it
    assert reached & set(storage_ids.values()) == expected
    assert dynamodb_reached == {
        storage_ids[resource]
        for resource in (
            Resource.CRM_TABLE,
            Resource.APPROVALS_TABLE,
            Resource.IDEMPOTENCY_TABLE,
            Resource.BILLING_TABLE,
            Resource.CALENDAR_TABLE,
            Resource.RUN_LEDGER_TABLE,
        )
        if resource in step.resources
    }
    assert sends_email == (Resource.EMAIL in step.resources)


def test_approval_request_steps_may_seal_task_tokens_but_never_open_them(synthesized: Synthesized) -> None:
    # Given every step that asks for an approval (it seals the run's task token)
    sealing = [(wf, step) for wf, step in all_steps() if Resource.TOKEN_SEAL in step.resources]
    assert len(sealing) >= 8
    key = synthesized.storage_ids()[Resource.TOKEN_SEAL]

    for workflow, step in all_steps():
        # When its role's KMS statements are collected
        statements = synthesized.statements_of_role(_role_of_function(synthesized, workflow, step))
        kms = {a for s in statements for a in _actions(s) if a.startswith("kms:")}
        on_key = {a for s in statements if key in _referenced_ids(_resources(s)) for a in _actions(s)}

        # Then a sealing step may encrypt with the approvals key and nothing else; no step decrypts
        # (only the API and the sweeper, which resume runs, open tokens: tests/infra/test_api.py)
        expected = {"kms:Encrypt"} if (workflow, step) in sealing else set()
        assert kms == expected, f"{workflow.name}.{step.name}"
        assert on_key == expected, f"{workflow.name}.{step.name}"


def test_send_email_step_cannot_touch_the_crm_table(synthesized: Synthesized) -> None:
    # Given the send_email step, which declares no CRM access
    workflow = WORKFLOWS["sales_outreach"]
    step = workflow.step("send_email")
    crm_id = synthesized.storage_ids()[Resource.CRM_TABLE]

    # When its role's statements are collected
    statements = synthesized.statements_of_role(_role_of_function(synthesized, workflow, step))

    # Then none of them names the CRM table
    assert all(crm_id not in _referenced_ids(_resources(statement)) for statement in statements)


@pytest.mark.parametrize("workflow", WORKFLOW_SPECS, ids=lambda wf: wf.name)
def test_only_a_distributed_map_workflow_may_start_its_own_children_and_use_its_files_prefixes(
    synthesized: Synthesized, workflow: WorkflowSpec
) -> None:
    # Given the state machine and its role's statements
    machine_id = synthesized.logical_id(synthesized.stack.workflows[workflow.name].state_machine)
    role_id = _state_machine(synthesized, workflow)["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = synthesized.statements_of_role(role_id)
    by_action = {action: statement for statement in statements for action in _actions(statement)}

    if not distributed_maps(workflow):
        # Then a workflow without a Distributed Map starts nothing and reads no files
        assert not any(a.startswith(("states:", "s3:")) for a in by_action)
        return
    # Then it may start executions of itself only (a Distributed Map's children), describe/stop
    # only executions of its own name, read its own prefix and write its map results only
    assert _resources(by_action["states:StartExecution"]) == [{"Ref": machine_id}]
    executions = json.dumps(_resources(by_action["states:DescribeExecution"]))
    assert f'"{machine_id}", "Name"' in executions
    assert ":execution:" in executions
    assert by_action["states:StopExecution"] is by_action["states:DescribeExecution"]
    read = json.dumps(_resources(by_action["s3:GetObject"]))
    write = json.dumps(_resources(by_action["s3:PutObject"]))
    assert f'"/{workflow.name}/*"' in read
    assert f'"/{workflow.name}/{MAP_RESULTS}*"' in write
    assert "s3:DeleteObject" not in by_action
