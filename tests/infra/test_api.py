"""The HTTP API and the approval sweeper as synthesized (infra/api.py).

One synthesis for the module; every test reads the same template. Whole-stack cdk-nag and cfn-lint
are in test_stack_checks.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from functions.registry import ROOT, WORKFLOWS
from functions.shared.tables import TableName
from infra import constants
from infra.stack import StepwiseStack
from tests.infra.conftest import SENDER_EMAIL, offline_app
from tests.infra.templates import merge, qualified_id

#: (path, method) → the one scope its token needs, or None: machine routes need a token (and the
#: client's API key); approval links must need neither (the approver has no account).
ROUTES = {
    ("/workflows/{workflow}/executions", "POST"): "stepwise/start",
    ("/executions", "GET"): "stepwise/read",
    ("/executions/{executionId}", "GET"): "stepwise/read",
    ("/executions/{executionId}/redrive", "POST"): "stepwise/redrive",
    ("/approvals/{approvalId}", "GET"): None,
    ("/approvals/{approvalId}/decision", "POST"): None,
    ("/openapi.json", "GET"): None,
}
API_CLIENTS = json.loads((ROOT / "examples" / "api_clients.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Synthesized:
    stack: StepwiseStack
    template: Template
    resources: dict[str, Any]

    def logical_id(self, construct: Any) -> str:
        return qualified_id(construct)

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == resource_type}

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        (item,) = self.of_type(resource_type).items()
        return item

    def role_statements(self, function: Any) -> list[dict[str, Any]]:
        role_id = self.resources[self.logical_id(function)]["Properties"]["Role"]["Fn::GetAtt"][0]
        return [
            statement
            for policy in self.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def method_paths(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(full resource path, HTTP method) → the method's properties."""
        resources = self.of_type("AWS::ApiGateway::Resource")

        def path_of(resource_id: str) -> str:
            properties = resources[resource_id]["Properties"]
            parent = properties["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""  # GetAtt RootResourceId
            return f"{prefix}/{properties['PathPart']}"

        return {
            (path_of(m["Properties"]["ResourceId"]["Ref"]), m["Properties"]["HttpMethod"]): m["Properties"]
            for m in self.of_type("AWS::ApiGateway::Method").values()
        }


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    app = offline_app(tmp_path_factory.mktemp("cdk.out"))
    stack = StepwiseStack(app, "Stepwise-ci", stage="ci")
    template = Template.from_stack(stack)
    return Synthesized(stack=stack, template=template, resources=merge(stack).resources)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _resources_for(statements: list[dict[str, Any]], action: str) -> list[Any]:
    return [r for s in statements if action in _actions(s) for r in _resources(s)]


def _render(value: Any) -> str:
    """A ``Fn::Join`` of strings and tokens → one string with ``<LogicalId.Attr>`` / ``<Ref>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise AssertionError(value)


# --- routes -------------------------------------------------------------------------------------------
def test_each_route_exists_and_only_machine_routes_require_the_api_key(synthesized: Synthesized) -> None:
    methods = synthesized.method_paths()
    assert set(methods) == set(ROUTES)
    for route, scope in ROUTES.items():
        assert methods[route]["ApiKeyRequired"] is (scope is not None), route
        integration = methods[route]["Integration"]
        assert integration["Type"] == "AWS_PROXY", route
        api_function = synthesized.logical_id(synthesized.stack.api.api_function)
        assert {"Fn::GetAtt": [api_function, "Arn"]} in integration["Uri"]["Fn::Join"][1], route


def test_the_deployed_routes_are_the_ones_the_openapi_document_describes(synthesized: Synthesized) -> None:
    # Given the document (one start path per workflow; Powertools names path parameters in snake_case)
    from functions.api.openapi import document

    start_paths = {f"/workflows/{name}/executions" for name in WORKFLOWS}
    documented = {
        ("/workflows/{workflow}/executions" if path in start_paths else path, method.upper())
        for path, item in document()["paths"].items()
        for method in item
    }
    renamed = {"{execution_id}": "{executionId}", "{approval_id}": "{approvalId}"}

    # When its paths are named as API Gateway names its resources
    as_deployed = set()
    for path, method in documented:
        deployed_path = path
        for snake, camel in renamed.items():
            deployed_path = deployed_path.replace(snake, camel)
        as_deployed.add((deployed_path, method))

    # Then API Gateway has exactly these methods: no route undocumented, none documented but absent
    assert as_deployed == set(synthesized.method_paths())


def test_every_method_is_validated_with_its_path_parameters_required(synthesized: Synthesized) -> None:
    validator_id, validator = synthesized.one("AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestParameters"] is True
    assert validator["Properties"]["ValidateRequestBody"] is True
    for (path, _http_method), method in synthesized.method_paths().items():
        assert method["RequestValidatorId"] == {"Ref": validator_id}, path
        parameters = method.get("RequestParameters", {})
        for segment in path.split("/"):
            if segment.startswith("{"):
                assert parameters[f"method.request.path.{segment.strip('{}')}"] is True, path
    post = synthesized.method_paths()[("/workflows/{workflow}/executions", "POST")]
    assert post["RequestParameters"]["method.request.header.Idempotency-Key"] is False


def test_every_machine_method_has_the_cognito_authorizer_and_exactly_its_scope(
    synthesized: Synthesized,
) -> None:
    # Given the one Cognito authorizer of the API, on the stage's user pool
    authorizer_id, authorizer = synthesized.one("AWS::ApiGateway::Authorizer")
    pool_id = synthesized.logical_id(synthesized.stack.api.auth.user_pool)
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    # Then each machine method uses it with its own scope, and the approval methods use nothing
    for route, method in synthesized.method_paths().items():
        scope = ROUTES[route]
        if scope is None:
            assert method["AuthorizationType"] == "NONE", route
            assert "AuthorizerId" not in method, route
            assert "AuthorizationScopes" not in method, route
        else:
            assert method["AuthorizationType"] == "COGNITO_USER_POOLS", route
            assert method["AuthorizerId"] == {"Ref": authorizer_id}, route
            assert method["AuthorizationScopes"] == [scope], route


def test_one_client_credentials_app_client_per_api_client_with_only_its_scopes(
    synthesized: Synthesized,
) -> None:
    # Given the resource server "stepwise" with its three scopes
    _, server = synthesized.one("AWS::Cognito::UserPoolResourceServer")
    assert server["Properties"]["Identifier"] == "stepwise"
    assert {s["ScopeName"] for s in server["Properties"]["Scopes"]} == {"start", "read", "redrive"}
    # Then every client of the context is an app client with a secret, client credentials only,
    # and exactly the scopes the context gives it
    clients = {
        c["Properties"]["ClientName"]: c["Properties"]
        for c in synthesized.of_type("AWS::Cognito::UserPoolClient").values()
    }
    assert set(clients) == set(API_CLIENTS)
    for name, spec in API_CLIENTS.items():
        client = clients[name]
        assert client["GenerateSecret"] is True, name
        assert client["AllowedOAuthFlows"] == ["client_credentials"], name
        assert client["AllowedOAuthFlowsUserPoolClient"] is True, name
        rendered = sorted(_render(scope) for scope in client["AllowedOAuthScopes"])
        assert rendered == sorted(
            f"<{synthesized.logical_id(synthesized.stack.api.auth.resource_server)}>/" + s.split("/", 1)[1]
            for s in spec["scopes"]
        ), name
    # and the pool has a domain for the token endpoint, and no way for anyone to sign up
    synthesized.one("AWS::Cognito::UserPoolDomain")
    _, pool = synthesized.one("AWS::Cognito::UserPool")
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_the_api_function_maps_each_client_id_to_its_name_and_owner(synthesized: Synthesized) -> None:
    function = synthesized.resources[synthesized.logical_id(synthesized.stack.api.api_function)]
    raw = function["Properties"]["Environment"]["Variables"]["STEPWISE_API_CLIENTS"]
    rendered = json.loads(_render(raw))
    by_name = {item["name"]: item for item in rendered}
    assert set(by_name) == set(API_CLIENTS)
    for name, spec in API_CLIENTS.items():
        client = synthesized.stack.api.auth.clients[name]
        assert by_name[name]["owner"] == spec["owner"]
        assert by_name[name]["clientId"] == f"<{synthesized.logical_id(client)}>"


def test_a_usage_plan_with_throttling_binds_one_api_key_per_client_to_the_stage(
    synthesized: Synthesized,
) -> None:
    plan_id, plan = synthesized.one("AWS::ApiGateway::UsagePlan")
    stage_id, _ = synthesized.one("AWS::ApiGateway::Stage")
    api_id, _ = synthesized.one("AWS::ApiGateway::RestApi")
    keys = synthesized.of_type("AWS::ApiGateway::ApiKey")
    assert plan["Properties"]["Throttle"] == {"RateLimit": 10, "BurstLimit": 20}
    assert [(s["ApiId"], s["Stage"]) for s in plan["Properties"]["ApiStages"]] == [
        ({"Ref": api_id}, {"Ref": stage_id})
    ]
    assert set(keys) == {synthesized.logical_id(k) for k in synthesized.stack.api.api_keys.values()}
    assert set(synthesized.stack.api.api_keys) == set(API_CLIENTS)
    for key_id, key in keys.items():
        assert key["Properties"]["Enabled"] is True
        synthesized.template.has_resource_properties(
            "AWS::ApiGateway::UsagePlanKey",
            {"KeyId": {"Ref": key_id}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": plan_id}},
        )


# --- logging --------------------------------------------------------------------------------------------
def test_access_logs_are_json_without_query_strings_or_key_values(synthesized: Synthesized) -> None:
    _, stage = synthesized.one("AWS::ApiGateway::Stage")
    setting = stage["Properties"]["AccessLogSetting"]
    log_group = setting["DestinationArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in synthesized.resources[log_group]["Properties"]
    fields = json.loads(setting["Format"])  # valid JSON
    values = set(fields.values())
    # The approval GET link carries ?sig=: nothing that can hold the query string or the raw key.
    assert not {"$context.path", "$context.identity.apiKey", "$context.requestOverride"} & values
    assert not any("querystring" in v.lower() or "$input" in v for v in values)
    assert (
        fields["resourcePath"] == "$context.resourcePath"
    )  # the template path, e.g. /approvals/{approvalId}
    for name in ("requestId", "ip", "requestTime", "httpMethod", "status", "responseLength"):
        assert name in fields


def test_execution_logging_is_errors_only_without_data_trace_and_with_tracing(
    synthesized: Synthesized,
) -> None:
    _, stage = synthesized.one("AWS::ApiGateway::Stage")
    properties = stage["Properties"]
    assert properties["StageName"] == "ci"
    assert properties["TracingEnabled"] is True
    # the stage's defaults, and the approval routes' own throttling (tests/infra/test_api_hardening.py)
    every = {(s["ResourcePath"], s["HttpMethod"]): s for s in properties["MethodSettings"]}
    assert ("/*", "*") in every
    for settings in every.values():
        assert settings["LoggingLevel"] == "ERROR"
        assert settings["DataTraceEnabled"] is False
        assert settings["MetricsEnabled"] is True
        assert settings["ThrottlingRateLimit"] > 0
        assert settings["ThrottlingBurstLimit"] > 0


# --- the API function -----------------------------------------------------------------------------------
def test_api_function_starts_executions_only_on_the_workflow_aliases_and_state_machines(
    synthesized: Synthesized,
) -> None:
    statements = synthesized.role_statements(synthesized.stack.api.api_function)
    machines = {synthesized.logical_id(wf.state_machine) for wf in synthesized.stack.workflows.values()}
    aliases = {synthesized.logical_id(rollout.alias) for rollout in synthesized.stack.rollouts.values()}
    expected_start = [{"Fn::GetAtt": [a, "Arn"]} for a in aliases] + [{"Ref": m} for m in machines]
    assert sorted(map(json.dumps, _resources_for(statements, "states:StartExecution"))) == sorted(
        map(json.dumps, expected_start)
    )
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:ListExecutions"):
        assert sorted(map(json.dumps, _resources_for(statements, action))) == sorted(
            json.dumps({"Ref": m}) for m in machines
        ), action
    executions = _resources_for(statements, "states:DescribeExecution")
    assert executions == _resources_for(statements, "states:GetExecutionHistory")
    assert sorted(_render(r) for r in executions) == sorted(
        f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{m}.Name>:*" for m in machines
    )
    # and no Step Functions action anywhere on "*"
    assert not [
        s for s in statements if "*" in _resources(s) and any(a.startswith("states:") for a in _actions(s))
    ]


def test_only_the_api_function_may_redrive_and_only_the_workflows_own_executions(
    synthesized: Synthesized,
) -> None:
    # Given the API function's role: RedriveExecution on each workflow's executions, like describe
    statements = synthesized.role_statements(synthesized.stack.api.api_function)
    redrive = _resources_for(statements, "states:RedriveExecution")
    assert sorted(map(json.dumps, redrive)) == sorted(
        map(json.dumps, _resources_for(statements, "states:DescribeExecution"))
    )
    machines = {synthesized.logical_id(wf.state_machine) for wf in synthesized.stack.workflows.values()}
    assert sorted(_render(r) for r in redrive) == sorted(
        f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{m}.Name>:*" for m in machines
    )
    # Then no other policy of the stack grants it (no step, the sweeper, or a state machine role)
    api_role = synthesized.resources[synthesized.logical_id(synthesized.stack.api.api_function)][
        "Properties"
    ]["Role"]["Fn::GetAtt"][0]
    granting = [
        policy_id
        for policy_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(a in ("states:RedriveExecution", "states:*") for a in _actions(statement))
    ]
    assert granting
    for policy_id in granting:
        assert synthesized.resources[policy_id]["Properties"]["Roles"] == [{"Ref": api_role}], policy_id


def test_api_function_knows_every_workflow_alias_and_its_own_url(synthesized: Synthesized) -> None:
    function = synthesized.resources[synthesized.logical_id(synthesized.stack.api.api_function)]
    variables = function["Properties"]["Environment"]["Variables"]
    state_machines = json.loads(_render(variables["STEPWISE_STATE_MACHINES"]))
    assert state_machines == {
        name: f"<{synthesized.logical_id(synthesized.stack.rollouts[name].alias)}.Arn>" for name in WORKFLOWS
    }
    api_id, _ = synthesized.one("AWS::ApiGateway::RestApi")
    assert _render(variables["STEPWISE_APPROVAL_LINK_BASE_URL"]) == (
        f"https://<{api_id}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/ci/"
    )
    assert {
        "STEPWISE_APPROVALS_TABLE",
        "STEPWISE_FILES_BUCKET",
        "STEPWISE_APPROVAL_SIGNING_SECRET_ARN",
    } <= set(variables)


def test_api_function_reads_writes_approvals_and_files_and_only_decrypts_with_the_key(
    synthesized: Synthesized,
) -> None:
    statements = synthesized.role_statements(synthesized.stack.api.api_function)
    storage = synthesized.stack.storage
    key = synthesized.logical_id(storage.approvals_key)
    kms_actions = {a for s in statements for a in _actions(s) if a.startswith("kms:")}
    assert kms_actions == {"kms:Decrypt"}
    assert _resources_for(statements, "kms:Decrypt") == [{"Fn::GetAtt": [key, "Arn"]}]
    approvals = synthesized.logical_id(storage.tables[TableName.APPROVALS])
    assert {"Fn::GetAtt": [approvals, "Arn"]} in _resources_for(statements, "dynamodb:UpdateItem")
    files = synthesized.logical_id(storage.files_bucket)
    for action in ("s3:GetObject", "s3:PutObject"):
        assert [_render(r) for r in _resources_for(statements, action)] == [f"<{files}.Arn>/*"]
    assert "ses:SendEmail" not in {a for s in statements for a in _actions(s)}


# --- the sweeper ----------------------------------------------------------------------------------------
def test_the_sweeper_runs_every_15_minutes(synthesized: Synthesized) -> None:
    sweeper = synthesized.logical_id(synthesized.stack.api.sweeper_function)
    rules = [
        r
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if {"Fn::GetAtt": [sweeper, "Arn"]} in [t["Arn"] for t in r["Properties"]["Targets"]]
    ]
    assert [r["Properties"]["ScheduleExpression"] for r in rules] == ["rate(15 minutes)"]
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"FunctionName": {"Fn::GetAtt": [sweeper, "Arn"]}, "Principal": "events.amazonaws.com"},
    )


def test_the_sweeper_sends_mail_only_from_the_sender_identity_and_only_fails_tasks(
    synthesized: Synthesized,
) -> None:
    statements = synthesized.role_statements(synthesized.stack.api.sweeper_function)
    send = _resources_for(statements, "ses:SendEmail")
    assert [_render(r) for r in send] == [
        f"arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/{SENDER_EMAIL}"
    ]
    states = {a for s in statements for a in _actions(s) if a.startswith("states:")}
    assert states == {"states:SendTaskFailure"}
    machines = [
        {"Ref": synthesized.logical_id(wf.state_machine)} for wf in synthesized.stack.workflows.values()
    ]
    assert sorted(map(str, _resources_for(statements, "states:SendTaskFailure"))) == sorted(
        map(str, machines)
    )
    files = synthesized.logical_id(synthesized.stack.storage.files_bucket)
    s3_actions = {a for s in statements for a in _actions(s) if a.startswith("s3:")}
    # read only: objects by key, and ListBucket on the bucket so that a missing draft is a 404, not a 403
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}
    assert [_render(r) for r in _resources_for(statements, "s3:GetObject")] == [f"<{files}.Arn>/*"]
    assert [_render(r) for r in _resources_for(statements, "s3:ListBucket")] == [f"<{files}.Arn>"]


# --- both functions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["api_function", "sweeper_function"])
def test_api_functions_have_their_own_role_without_managed_policies_and_the_base_layer_only(
    synthesized: Synthesized, which: str
) -> None:
    function_construct = getattr(synthesized.stack.api, which)
    function = synthesized.resources[synthesized.logical_id(function_construct)]["Properties"]
    role = synthesized.resources[function["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert function["Layers"] == [{"Ref": synthesized.logical_id(synthesized.stack.layers.base)}]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Architectures"] == ["arm64"]
    log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
    assert "RetentionInDays" in synthesized.resources[log_group]["Properties"]
    handler = constants.API_HANDLER if which == "api_function" else constants.SWEEPER_HANDLER
    assert function["Handler"] == handler


def test_the_stack_outputs_the_api_url_token_url_and_key_ids(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    key_refs = {o["Value"]["Ref"] for k, o in outputs.items() if k.startswith(constants.API_KEY_ID_OUTPUT_ID)}
    assert key_refs == {synthesized.logical_id(k) for k in synthesized.stack.api.api_keys.values()}
    synthesized.template.has_output(constants.API_URL_OUTPUT_ID, {"Value": Match.any_value()})
    assert "oauth2/token" in _render(outputs[constants.TOKEN_URL_OUTPUT_ID]["Value"])
