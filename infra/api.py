"""The HTTP API of Stepwise (design.md, "HTTP API") and the approval SLA sweeper.

- One REST API, one Lambda (``functions.api.app.handler``, a Powertools ``APIGatewayRestResolver``)
  behind explicit resources and methods (no ``{proxy+}``), so every route shows in the console.
- ``GET /openapi.json`` serves the API's OpenAPI 3.1 contract (``functions/api/openapi.py``) to
  anyone: the same document as locally and in ``docs/openapi.json``; it holds no data.
- Machine routes (start, get, search, redrive executions) need an access token of one of the
  stage's API clients (``infra/auth.py``: Cognito user pool, client credentials) with the route's
  scope (start → ``stepwise/start``, read and search → ``stepwise/read``, redrive →
  ``stepwise/redrive``), checked by a Cognito authorizer, *and* that client's API key: the key is
  the quota handle (one key per client on the throttled usage plan), the token is the identity.
  Approval routes (the links in the approval emails) need neither: the approver has no account,
  and the handler authorizes them by the HMAC link signature (design.md, "Human approval via task
  tokens").
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

Hardening of the public routes (issue #19):

- A WAFv2 web ACL on the stage (``_build_web_acl``): a per-IP rate limit on ``/approvals/*`` and a
  looser one on the whole API, AWS's IP reputation list, known bad inputs and common rule set
  (its 8 KB body-size rule counts only: the handler answers 413 past 256 KiB itself), CloudWatch
  metrics and sampled requests, and logs of blocked/counted requests only, with the query string
  (``?sig=``) and the credential headers redacted.
- Approval routes have their own method throttling (``APPROVAL_METHOD_THROTTLING``), below the
  stage's, so a flood of link requests cannot starve machine clients, nor machines the approvers.
- The link-signing key ring rotates on a schedule (``_build_link_key_rotation``,
  ``functions/api/rotate_link_keys.py``); links name their key, so a rotation kills no link.
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
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from functions.registry import ROOT, Resource
from functions.shared.api_clients import ROUTE_SCOPES, ClientDirectory
from functions.shared.approvers import APPROVER_FIELDS
from functions.shared.tables import TableName
from infra import constants
from infra.auth import ApiAuth
from infra.nag import acknowledge, attribute_ref
from infra.packaging import ARCHITECTURE, RUNTIME, DependencyLayers, code_asset
from infra.storage import Storage

#: Usage plan of the machine clients (per API key): steady requests per second and burst.
KEY_RATE_LIMIT = 10
KEY_BURST_LIMIT = 20
#: Stage-wide method throttling (all callers, including approval links).
STAGE_RATE_LIMIT = 50
STAGE_BURST_LIMIT = 100
#: The approval routes' own method throttling (requests per second, burst), below the stage's. A
#: person opens a page and decides: even a hundred approvers at once is a few requests a second, so
#: these leave ample room for them while a flood of link requests exhausts only this budget, not the
#: machine clients' (and a busy machine client cannot starve the approvers either).
APPROVAL_METHOD_THROTTLING: Mapping[str, tuple[int, int]] = {
    "/approvals/{approvalId}/GET": (10, 20),
    "/approvals/{approvalId}/decision/POST": (5, 10),
}
#: WAF rate-based rules: requests per client IP per 5-minute window (WAF's evaluation window).
#: Approval links: 100 (one approver needs a handful; an office behind one NAT address still fits,
#: while guessing approval ids or signatures is cut to a trickle). Whole API: 3000 (10 rps
#: sustained, the usage plan's per-key rate, so a well-behaved machine client is never blocked by
#: WAF before API Gateway's own throttle answers it 429).
WAF_APPROVAL_RATE_LIMIT = 100
WAF_API_RATE_LIMIT = 3000
#: AWS managed rule groups, in evaluation order, with the rules that only count (and why).
WAF_MANAGED_RULE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
    # SizeRestrictions_BODY blocks bodies over 8 KB: a decision with a 3000-character edit, escaped
    # in JSON (\uXXXX for non-ASCII text), or a start request with intake text exceeds it. The
    # handler enforces its own limit (413 past 256 KiB, functions/api/app.py).
    ("AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
)
#: WAF logs (blocked and counted requests only) go to a log group whose name WAF requires to start so.
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"

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
#: Both read every workflow's approver directory: the API checks the approvers of start requests,
#: the sweeper looks up escalation chains. TOKEN_OPEN: both decrypt task tokens, the steps seal them.
API_RESOURCES = frozenset(
    {
        Resource.APPROVALS_TABLE,
        Resource.FILES_BUCKET,
        Resource.APPROVAL_LINKS,
        Resource.TOKEN_OPEN,
        Resource.APPROVER_DIRECTORY,
    }
)
SWEEPER_RESOURCES = frozenset(
    {
        Resource.APPROVALS_TABLE,
        Resource.APPROVAL_LINKS,
        Resource.EMAIL,
        Resource.TOKEN_OPEN,
        Resource.APPROVER_DIRECTORY,
    }
)
#: The rotation Lambda names no registry resource: its one grant, on the signing secret, is explicit.
LINK_KEY_ROTATION_RESOURCES: frozenset[Resource] = frozenset()

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
        api_clients: ClientDirectory,
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
        self.auth = ApiAuth(self, "Auth", clients=api_clients, stage=stage, removal_policy=removal_policy)
        self.api_function.add_environment("STEPWISE_API_CLIENTS", self.auth.known_clients_json)
        self._grant_sweeper(self.sweeper_function)

        self.api = self._build_rest_api()
        self.url: str = self.api.url
        self._add_routes(self.api)
        #: API client name → its API key (quota handle) on the usage plan.
        self.api_keys = self._build_usage_plan(self.api, list(api_clients.root))
        self.web_acl = self._build_web_acl(self.api)
        self.link_key_rotation_function = self._build_link_key_rotation(code)

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

    def _grant_task_failure(self, function: lambda_.Function, actions: list[str]) -> None:
        # Task-token callbacks on the workflows' own state machines only (never "*").
        function.add_to_role_policy(
            iam.PolicyStatement(actions=actions, resources=self._state_machine_arns())
        )

    def _grant_api(self, function: lambda_.Function) -> None:
        self._storage.grant(API_RESOURCES, function, workflows=APPROVER_FIELDS)
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
                # RedriveExecution: POST /executions/{id}/redrive, on the workflows' own executions.
                actions=["states:DescribeExecution", "states:GetExecutionHistory", "states:RedriveExecution"],
                resources=execution_arns,
            )
        )

    def _grant_sweeper(self, function: lambda_.Function) -> None:
        self._storage.grant(SWEEPER_RESOURCES, function, workflows=APPROVER_FIELDS)
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
                method_options=_approval_method_options(),
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
            if machine:
                # The scope table is shared with the handler's own check and the local server.
                scope = ROUTE_SCOPES[(http_method, resource.path)]
                return resource.add_method(
                    http_method,
                    integration,
                    api_key_required=True,
                    authorizer=self.auth.authorizer,
                    authorization_type=apigateway.AuthorizationType.COGNITO,
                    authorization_scopes=[scope],
                    request_validator=validator,
                    request_parameters=dict(parameters),
                )
            added = resource.add_method(
                http_method,
                integration,
                api_key_required=False,
                authorization_type=apigateway.AuthorizationType.NONE,
                request_validator=validator,
                request_parameters=dict(parameters),
            )
            acknowledge(added, "AwsSolutions-APIG4", _LINK_AUTH)
            acknowledge(added, "AwsSolutions-COG4", _LINK_AUTH)
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
        execution = executions.add_resource("{executionId}")
        method(execution, "GET", machine=True, parameters={"method.request.path.executionId": True})
        method(
            execution.add_resource("redrive"),
            "POST",
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

    def _build_usage_plan(self, api: apigateway.RestApi, clients: list[str]) -> dict[str, apigateway.ApiKey]:
        """One API key per client on one throttled plan: each client's quota is its own."""
        plan = api.add_usage_plan(
            constants.API_USAGE_PLAN_ID,
            name=f"{constants.SERVICE_NAME}-{self._stage}-machines",
            throttle=apigateway.ThrottleSettings(rate_limit=KEY_RATE_LIMIT, burst_limit=KEY_BURST_LIMIT),
            api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        keys = {}
        for name in clients:
            keys[name] = apigateway.ApiKey(
                self,
                constants.API_KEY_ID + "".join(p.capitalize() for p in name.replace("_", "-").split("-")),
                description=f"stepwise {self._stage}: API client {name} (value: aws apigateway get-api-key "
                "--include-value)",
                enabled=True,
            )
            plan.add_api_key(keys[name])
        return keys

    # --- hardening of the public routes (WAF, key rotation) -------------------------------------------
    def _build_web_acl(self, api: apigateway.RestApi) -> wafv2.CfnWebACL:
        """The stage's web ACL: rate limits, managed rule groups, metrics, redacted logs."""
        name = f"{constants.SERVICE_NAME}-{self._stage}-api"
        rules = [
            _rate_rule("ApprovalLinksPerIp", 0, WAF_APPROVAL_RATE_LIMIT, _approval_paths(self._stage)),
            _rate_rule("ApiPerIp", 1, WAF_API_RATE_LIMIT, None),
        ]
        for priority, (group, counted) in enumerate(WAF_MANAGED_RULE_GROUPS, start=2):
            rules.append(_managed_rule(group, priority, counted))
        acl = wafv2.CfnWebACL(
            self,
            constants.WEB_ACL_ID,
            name=name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            constants.WEB_ACL_ASSOCIATION_ID,
            resource_arn=api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        log_group = logs.LogGroup(
            self,
            constants.WEB_ACL_LOG_GROUP_ID,
            log_group_name=f"{WAF_LOG_GROUP_PREFIX}{name}",
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            constants.WEB_ACL_LOGGING_ID,
            resource_arn=acl.attr_arn,
            # WAF wants the log group's ARN without the ":*" that Fn::GetAtt Arn ends with.
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            # The approval GET link carries ?sig= in the query; machine clients send x-api-key (and,
            # with a JWT authorizer, Authorization). WAF can redact the whole query string only.
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
                *(
                    # single_header is untyped JSON in CDK: CloudFormation's own casing ("Name")
                    wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                    for header in ("authorization", "x-api-key")
                ),
            ],
            # Blocked and counted requests only: what an operator investigates, at a fraction of the cost.
            logging_filter={
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [
                            {"ActionCondition": {"Action": "BLOCK"}},
                            {"ActionCondition": {"Action": "COUNT"}},
                        ],
                    }
                ],
            },
        )
        return acl

    def _build_link_key_rotation(self, code: lambda_.Code) -> lambda_.Function:
        """Rotate the link-signing key ring every ``LINK_KEY_ROTATION_DAYS`` (Secrets Manager)."""
        function = self._build_function(
            constants.LINK_KEY_ROTATION_FUNCTION_ID,
            handler=constants.LINK_KEY_ROTATION_HANDLER,
            description="Rotates the approval-link key ring (old keys kept until their links expire)",
            code=code,
            timeout=Duration.seconds(30),
            memory_mb=256,
        )
        secret = self._storage.approval_signing_secret
        # Exactly the calls of functions/api/rotate_link_keys.py, on this secret only (the new key
        # comes from Python's secrets module: no secretsmanager:GetRandomPassword on "*").
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                resources=[secret.secret_arn],
            )
        )
        function.add_permission(
            "SecretsManagerInvoke",
            principal=iam.ServicePrincipal("secretsmanager.amazonaws.com"),
            source_account=Aws.ACCOUNT_ID,
        )
        schedule = secretsmanager.CfnRotationSchedule(
            self,
            constants.LINK_KEY_ROTATION_SCHEDULE_ID,
            secret_id=secret.secret_arn,
            rotation_lambda_arn=function.function_arn,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                schedule_expression=f"rate({constants.LINK_KEY_ROTATION_DAYS} days)"
            ),
        )
        # CloudFormation rotates once on creation: the permission and the role's policy come first.
        schedule.node.add_dependency(function)
        if function.role is not None:
            schedule.node.add_dependency(function.role)
        return function

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


def _approval_method_options() -> dict[str, apigateway.MethodDeploymentOptions]:
    """A method's settings replace the stage's for that method: the logging choices are repeated."""
    return {
        path: apigateway.MethodDeploymentOptions(
            throttling_rate_limit=rate,
            throttling_burst_limit=burst,
            logging_level=apigateway.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,
            metrics_enabled=True,
        )
        for path, (rate, burst) in APPROVAL_METHOD_THROTTLING.items()
    }


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _approval_paths(stage: str) -> wafv2.CfnWebACL.StatementProperty:
    """URI paths under ``/approvals/``: ``/<stage>/approvals/...`` on the execute-api URL,
    ``/approvals/...`` on a custom domain mapped at its root; lowercased, as API Gateway's paths
    are case-sensitive but an attacker's spelling is not."""

    def starts_with(prefix: str) -> wafv2.CfnWebACL.StatementProperty:
        return wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                positional_constraint="STARTS_WITH",
                search_string=prefix,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
                ],
            )
        )

    return wafv2.CfnWebACL.StatementProperty(
        or_statement=wafv2.CfnWebACL.OrStatementProperty(
            statements=[starts_with("/approvals/"), starts_with(f"/{stage.lower()}/approvals/")]
        )
    )


def _rate_rule(
    name: str, priority: int, limit: int, scope_down: wafv2.CfnWebACL.StatementProperty | None
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP", limit=limit, scope_down_statement=scope_down
            )
        ),
        visibility_config=_visibility(name),
    )


def _managed_rule(group: str, priority: int, counted: tuple[str, ...]) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in counted
                ]
                or None,
            )
        ),
        visibility_config=_visibility(group),
    )


def _cfn(machine: sfn.StateMachine) -> sfn.CfnStateMachine:
    child = machine.node.default_child
    assert isinstance(child, sfn.CfnStateMachine), machine.node.path
    return child
