"""The HTTP API of Stepwise (design.md, "HTTP API") and the approval SLA sweeper.

- One REST API, one Lambda (``functions.api.app.handler``, a Powertools ``APIGatewayRestResolver``)
  behind explicit resources and methods (no ``{proxy+}``), so every route shows in the console.
- ``GET /openapi.json`` serves the API's OpenAPI 3.1 contract (``functions/api/openapi.py``) to
  anyone: the same document as locally and in ``docs/openapi.json``; it holds no data.
- Machine routes (start, get, search executions) require an API key on a throttled usage plan.
  Approval routes (the links in the approval emails) do not: the approver has no key, and the
  handler authorizes them by the HMAC link signature (design.md, "Human approval via task tokens").
- Access logs in JSON without the query string (the approval GET link carries ``?sig=``), execution
  logging at ERROR without data tracing (it would log bodies: drafts, edits, signatures).
- The sweeper (``functions.api.sweeper.handler``) runs every 15 minutes (EventBridge schedule).

Executions are started on each workflow's ``live`` alias (``StateMachineRollout.alias_arn``) so
that the canary sees the traffic. The API's own URL reaches every Lambda (steps that sign links,
this API, the sweeper) as ``STEPWISE_APPROVAL_LINK_BASE_URL`` (``Storage.environment``), built
from the RestApi id and the stage *name* (not from ``RestApi.url``, which references the Stage,
whose Deployment depends on the Methods, whose integration references the function: a cycle).
Context ``approvalLinkBaseUrl`` (a custom domain) replaces it.

Account prerequisite: execution logging needs the API Gateway account-level CloudWatch role
(``AWS::ApiGateway::Account``). ``cloud_watch_role=False`` here: CDK's role carries the AWS managed
policy ``AmazonAPIGatewayPushToCloudWatchLogs`` (IAM4), and the setting is a per-region singleton
that several stage stacks in one account would fight over. Set it once per account and region.
WAF (APIG3) is a follow-up: the machine routes are behind API keys + throttling, and the approval
routes are single-use signed links.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.registry import ROOT, Resource
from functions.shared.tables import TableName
from infra import constants
from infra.nag import acknowledge, attribute_ref
from infra.packaging import ARCHITECTURE, RUNTIME, DependencyLayers, code_asset
from infra.storage import Storage

#: Usage plan of the machine clients (per API key): steady requests per second and burst.
KEY_RATE_LIMIT = 10
KEY_BURST_LIMIT = 20
#: Stage-wide method throttling (all callers, including approval links).
STAGE_RATE_LIMIT = 50
STAGE_BURST_LIMIT = 100

#: Access log record: no ``$context.path`` / query string (approval links carry ``?sig=``), no
#: ``$context.identity.apiKey`` (the key itself; ``apiKeyId`` names it).
ACCESS_LOG_FIELDS: Mapping[str, str] = {
    "requestId": apigateway.AccessLogField.context_request_id(),
    "extendedRequestId": apigateway.AccessLogField.context_extended_request_id(),
    "ip": apigateway.AccessLogField.context_identity_source_ip(),
    "requestTime": apigateway.AccessLogField.context_request_time(),
    "httpMethod": apigateway.AccessLogField.context_http_method(),
    "resourcePath": apigateway.AccessLogField.context_resource_path(),
    "status": apigateway.AccessLogField.context_status(),
    "protocol": apigateway.AccessLogField.context_protocol(),
    "responseLength": apigateway.AccessLogField.context_response_length(),
    "responseLatency": apigateway.AccessLogField.context_response_latency(),
    "integrationLatency": apigateway.AccessLogField.context_integration_latency(),
    "apiKeyId": "$context.identity.apiKeyId",
    "errorMessage": apigateway.AccessLogField.context_error_message(),
    "xrayTraceId": apigateway.AccessLogField.context_xray_trace_id(),
}

#: The registry resources the API and the sweeper are granted as a step naming them would be (their
#: other grants, e.g. the API's read-only run ledger, are explicit below).
API_RESOURCES = frozenset({Resource.APPROVALS_TABLE, Resource.FILES_BUCKET, Resource.APPROVAL_LINKS})
SWEEPER_RESOURCES = frozenset({Resource.APPROVALS_TABLE, Resource.APPROVAL_LINKS, Resource.EMAIL})

_MACHINE_AUTH = "Machine clients authenticate with an API key on a throttled usage plan."
_LINK_AUTH = (
    "Approval links are opened by an approver from an email, without an API key or a user pool: the "
    "handler authorizes each request by the link's HMAC-SHA256 signature (approval id, approver, "
    "expiry; constant-time compare), GET has no side effect, POST consumes the approval once."
)

_CONTRACT_PUBLIC = (
    "The OpenAPI document is public documentation generated from the code: routes, models and status "
    "codes, no data and no secrets; the stage throttling applies to it like to every route."
)


class StepwiseApi(Construct):
    """REST API + its Lambda, the API key and usage plan, and the approval SLA sweeper."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        layers: DependencyLayers,
        workflows: Mapping[str, tuple[sfn.StateMachine, str]],  # name → (state machine, alias ARN)
        stage: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if not workflows:
            raise ValueError("the API needs at least one workflow")
        self._storage = storage
        self._layers = layers
        self._stage = stage
        self._removal_policy = removal_policy
        self._log_retention = constants.LOG_RETENTION[stage == constants.PROD_STAGE]
        self._workflows = dict(workflows)
        code = code_asset(ROOT)

        self.api_function = self._build_function(
            constants.API_FUNCTION_ID,
            handler=constants.API_HANDLER,
            description="HTTP API: start/inspect executions, approval pages and decisions",
            code=code,
            timeout=Duration.seconds(29),  # API Gateway's integration timeout
            memory_mb=512,
        )
        self.sweeper_function = self._build_function(
            constants.SWEEPER_FUNCTION_ID,
            handler=constants.SWEEPER_HANDLER,
            description="Approval SLA sweeper: reminders, escalation, expiry",
            code=code,
            timeout=Duration.minutes(5),
            memory_mb=256,
        )
        self._grant_api(self.api_function)
        self._grant_sweeper(self.sweeper_function)

        self.api = self._build_rest_api()
        self.url: str = self.api.url
        self._add_routes(self.api)
        self.api_key = self._build_usage_plan(self.api)

        #: Where approval links point; Storage puts it in every function's environment (the stack).
        self.link_base_url = self._stage_url_without_deployment(self.api)

        self.sweeper_schedule = events.Rule(
            self,
            constants.SWEEPER_SCHEDULE_ID,
            description=f"stepwise {stage}: approval SLA sweeper",
            schedule=events.Schedule.rate(Duration.minutes(constants.SWEEPER_INTERVAL_MINUTES)),
            targets=[
                targets.LambdaFunction(
                    self.sweeper_function,
                    # A late run is superseded by the next one: do not pile them up.
                    max_event_age=Duration.minutes(constants.SWEEPER_INTERVAL_MINUTES),
                    retry_attempts=2,
                )
            ],
        )

    # --- functions ----------------------------------------------------------------------------------
    def _build_function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code,
        timeout: Duration,
        memory_mb: int,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            construct_id + constants.FUNCTION_LOG_GROUP_ID_SUFFIX,
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            self,
            construct_id + "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"stepwise {self._stage} {handler}: explicit grants only",
        )
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active tracing: xray:PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
        )
        return lambda_.Function(
            self,
            construct_id,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            role=role,
            layers=[self._layers.base],
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": constants.LAMBDA_LOG_LEVEL,
                **self._storage.environment,
                "STEPWISE_STATE_MACHINES": Stack.of(self).to_json_string(
                    {name: alias_arn for name, (_, alias_arn) in self._workflows.items()}
                ),
            },
        )

    def _state_machine_arns(self) -> list[str]:
        return [machine.state_machine_arn for machine, _ in self._workflows.values()]

    def _grant_decrypt(self, function: lambda_.Function) -> None:
        # Decrypt only: the task tokens are sealed by the request_approval step (Encrypt).
        self._storage.approvals_key.grant(function, "kms:Decrypt")

    def _grant_task_failure(self, function: lambda_.Function, actions: list[str]) -> None:
        # Task-token callbacks on the workflows' own state machines only (never "*").
        function.add_to_role_policy(
            iam.PolicyStatement(actions=actions, resources=self._state_machine_arns())
        )

    def _grant_api(self, function: lambda_.Function) -> None:
        self._storage.grant(API_RESOURCES, function)
        self._grant_decrypt(function)
        # GET /executions/{id} reports the run's LLM cost from the run ledger: read only.
        self._storage.tables[TableName.RUN_LEDGER].grant_read_data(function)
        self._grant_task_failure(function, ["states:SendTaskSuccess", "states:SendTaskFailure"])
        machines = self._workflows.values()
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[alias for _, alias in machines] + self._state_machine_arns(),
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=self._state_machine_arns())
        )
        stack = Stack.of(self)
        execution_arns = []
        for machine, _ in machines:
            execution_arns.append(
                stack.format_arn(
                    service="states",
                    resource="execution",
                    resource_name=f"{machine.state_machine_name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            )
            acknowledge(
                function.role or function,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{attribute_ref(_cfn(machine), 'Name', function)}:*]",
                "Execution ids are generated per run: describe/history of this workflow's own executions.",
            )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=execution_arns
            )
        )

    def _grant_sweeper(self, function: lambda_.Function) -> None:
        self._storage.grant(SWEEPER_RESOURCES, function)
        self._grant_decrypt(function)
        self._grant_task_failure(function, ["states:SendTaskFailure"])
        # The drafts an approval refers to, read only (GetObject + ListBucket: a missing key is a 404).
        self._storage.grant_files_read(function)

    # --- REST API -----------------------------------------------------------------------------------
    def _build_rest_api(self) -> apigateway.RestApi:
        access_logs = logs.LogGroup(
            self,
            constants.API_ACCESS_LOG_GROUP_ID,
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        api = apigateway.RestApi(
            self,
            constants.REST_API_ID,
            rest_api_name=f"{constants.SERVICE_NAME}-{self._stage}",
            description="Stepwise: start and inspect workflow executions, decide approvals",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,  # account-level prerequisite, see the module docstring
            deploy_options=apigateway.StageOptions(
                stage_name=self._stage,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=STAGE_RATE_LIMIT,
                throttling_burst_limit=STAGE_BURST_LIMIT,
            ),
        )
        # Parameter validation errors in the contract's shape ({"errors": [{field, message}]}).
        for response_type in (
            apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
            apigateway.ResponseType.BAD_REQUEST_BODY,
        ):
            api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={
                    "application/json": json.dumps(
                        {"errors": [{"field": "request", "message": "$context.error.validationErrorString"}]}
                    )
                },
            )
        return api

    def _add_routes(self, api: apigateway.RestApi) -> None:
        integration = apigateway.LambdaIntegration(
            self.api_function,
            proxy=True,
            allow_test_invoke=False,  # one invoke permission per method, not two
        )
        validator = api.add_request_validator(
            constants.API_REQUEST_VALIDATOR_ID,
            validate_request_parameters=True,
            # No request models: bodies are validated by the handler against the workflow's input
            # model, so a 400 has the same shape here and on the local server.
            validate_request_body=True,
        )

        def method(
            resource: apigateway.Resource,
            http_method: str,
            *,
            machine: bool,
            parameters: Mapping[str, bool],
        ) -> apigateway.Method:
            added = resource.add_method(
                http_method,
                integration,
                api_key_required=machine,
                authorization_type=apigateway.AuthorizationType.NONE,
                request_validator=validator,
                request_parameters=dict(parameters),
            )
            reason = _MACHINE_AUTH if machine else _LINK_AUTH
            acknowledge(added, "AwsSolutions-APIG4", reason)
            acknowledge(added, "AwsSolutions-COG4", reason)
            return added

        workflows = api.root.add_resource("workflows").add_resource("{workflow}")
        method(
            workflows.add_resource("executions"),
            "POST",
            machine=True,
            parameters={
                "method.request.path.workflow": True,
                "method.request.header.Idempotency-Key": False,
            },
        )
        executions = api.root.add_resource("executions")
        method(
            executions,
            "GET",
            machine=True,
            parameters={
                "method.request.querystring.workflow": False,
                "method.request.querystring.status": False,
                "method.request.querystring.businessKey": False,
            },
        )
        method(
            executions.add_resource("{executionId}"),
            "GET",
            machine=True,
            parameters={"method.request.path.executionId": True},
        )
        approval = api.root.add_resource("approvals").add_resource("{approvalId}")
        # sig stays optional for API Gateway: a missing signature is the handler's 403, as locally.
        method(
            approval,
            "GET",
            machine=False,
            parameters={
                "method.request.path.approvalId": True,
                "method.request.querystring.sig": False,
            },
        )
        method(
            approval.add_resource("decision"),
            "POST",
            machine=False,
            parameters={"method.request.path.approvalId": True},
        )
        self._add_openapi_route(api, integration, validator)

    def _add_openapi_route(
        self,
        api: apigateway.RestApi,
        integration: apigateway.LambdaIntegration,
        validator: apigateway.RequestValidator,
    ) -> None:
        """``GET /openapi.json``: the API's OpenAPI 3.1 document (``functions/api/openapi.py``), served by
        the same handler as locally, to anyone: it describes routes and models and holds no data."""
        added = api.root.add_resource("openapi.json").add_method(
            "GET",
            integration,
            api_key_required=False,
            authorization_type=apigateway.AuthorizationType.NONE,
            request_validator=validator,
        )
        acknowledge(added, "AwsSolutions-APIG4", _CONTRACT_PUBLIC)
        acknowledge(added, "AwsSolutions-COG4", _CONTRACT_PUBLIC)

    def _build_usage_plan(self, api: apigateway.RestApi) -> apigateway.ApiKey:
        api_key = apigateway.ApiKey(
            self,
            constants.API_KEY_ID,
            description=f"stepwise {self._stage}: machine clients (value: aws apigateway get-api-key "
            "--include-value)",
            enabled=True,
        )
        plan = api.add_usage_plan(
            constants.API_USAGE_PLAN_ID,
            name=f"{constants.SERVICE_NAME}-{self._stage}-machines",
            throttle=apigateway.ThrottleSettings(rate_limit=KEY_RATE_LIMIT, burst_limit=KEY_BURST_LIMIT),
            api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        plan.add_api_key(api_key)
        return api_key

    def _stage_url_without_deployment(self, api: apigateway.RestApi) -> str:
        """``https://<id>.execute-api.<region>.<suffix>/<stage>/`` from the RestApi and the stage name.

        ``api.url`` references the Stage → Deployment → Methods → this function: a cycle.
        """
        return Fn.join(
            "",
            [
                "https://",
                api.rest_api_id,
                ".execute-api.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                "/",
                self._stage,
                "/",
            ],
        )


def _cfn(machine: sfn.StateMachine) -> sfn.CfnStateMachine:
    child = machine.node.default_child
    assert isinstance(child, sfn.CfnStateMachine), machine.node.path
    return child
