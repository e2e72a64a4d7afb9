"""One workflow of the step registry: a Lambda per step and the state machine from its ASL file.

This is the single factory for step Lambdas: every function is built by ``_build_function`` from
its ``StepSpec`` (handler, timeout, memory, resources), so adding a step to
``functions/registry.py`` and to the ASL file is all it takes to deploy it. The code asset is the
repository's ``functions/`` package with its runtime bytecode; third-party dependencies come from
the ``base`` layer, and only steps that name ``Resource.LLM`` also get the ``llm`` layer
(``infra/packaging.py``). Each function has its own role holding only what its ``resources`` name
plus writing to its own log group and its large log payloads (``logs/*`` of the audit bucket); no
AWS managed policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from aws_cdk import ArnFormat, CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.registry import ROOT, StepSpec, WorkflowSpec
from infra import constants
from infra.nag import acknowledge, arn_ref
from infra.packaging import ARCHITECTURE, RUNTIME, DependencyLayers, code_asset
from infra.storage import Storage

#: Where a Distributed Map's ResultWriter writes, under the workflow's prefix of the files bucket
#: (the ASL's ``ResultWriter.Parameters.Prefix``).
MAP_RESULTS = "map-results/"


def distributed_maps(spec: WorkflowSpec) -> list[str]:
    """The workflow's Distributed Map states (they need the grants of ``_grant_distributed_maps``)."""
    from functions.shared import asl

    return [
        name
        for name, state in asl.iter_states(asl.definition(spec)["States"])
        if (state.get("ItemProcessor") or {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]


def _cfn(construct: Construct) -> CfnElement:
    child = construct.node.default_child
    assert isinstance(child, CfnElement), construct.node.path
    return child


class Workflow(Construct):
    """Step Lambdas (least privilege, from the registry) and the state machine that runs them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: WorkflowSpec,
        storage: Storage,
        layers: DependencyLayers,
        stage: str,
        removal_policy: RemovalPolicy,
        code_root: Path = ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self._storage = storage
        self._layers = layers
        self._stage = stage
        self._removal_policy = removal_policy
        self._log_retention = constants.LOG_RETENTION[stage == constants.PROD_STAGE]
        code = code_asset(code_root)
        self.functions: Mapping[str, lambda_.Function] = MappingProxyType(
            {step.name: self._build_function(step, code) for step in spec.steps}
        )
        self.state_machine = self._build_state_machine()
        for function in self.functions.values():
            function.grant_invoke(self.state_machine)
            acknowledge(
                self.state_machine,
                f"AwsSolutions-IAM5[Resource::{arn_ref(function)}:*]",
                "Invoking this workflow's own step function, any version or alias of it (CDK grant_invoke).",
            )
        acknowledge(
            self.state_machine,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery actions have no resource-level permissions.",
        )
        if distributed_maps(self.spec):
            self._grant_distributed_maps()

    def _grant_distributed_maps(self) -> None:
        """What a Distributed Map needs, and nothing more: start, describe and stop its child runs
        (executions of this very state machine), read its manifests (``ItemReader``: the workflow's
        prefix of the files bucket) and write its results (``ResultWriter``: ``map-results/``).

        A separate policy, not the role's default one: the state machine depends on its role's
        default policy, so naming the state machine's own ARN there would be a circular dependency.
        """
        machine, bucket, prefix = self.state_machine, self._storage.files_bucket, f"{self.spec.name}/"
        stack = Stack.of(self)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine.state_machine_name}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "DistributedMapPolicy",
            statements=[
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine.state_machine_arn]),
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")]
                ),
                iam.PolicyStatement(
                    actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    resources=[bucket.arn_for_objects(f"{prefix}{MAP_RESULTS}*")],
                ),
            ],
        )
        policy.attach_to_role(machine.role)
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{arn_ref(bucket, policy)}/{prefix}*]",
            "ItemReader reads the run's manifest; its key is data (<workflow>/<owner>/<day>/<run>/...).",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{arn_ref(bucket, policy)}/{prefix}{MAP_RESULTS}*]",
            "ResultWriter writes <prefix>/<map run id>/manifest.json and result files: that prefix only.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"<{Stack.of(machine).get_logical_id(_cfn(machine))}.Name>/*]",
            "A Distributed Map's child runs are executions of this state machine, named by the service.",
        )

    def _build_function(self, step: StepSpec, code: lambda_.Code) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            constants.function_log_group_id(step.name),
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            self,
            constants.function_id(step.name) + "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"stepwise {self._stage} {self.spec.name}.{step.name}: what the step registry names",
        )
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active tracing: xray:PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
        )
        layers = [self._layers.base, self._layers.llm] if step.uses_llm else [self._layers.base]
        function = lambda_.Function(
            self,
            constants.function_id(step.name),
            description=f"{self.spec.name}: {step.name} ({step.kind})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=step.handler,
            code=code,
            role=role,
            layers=layers,
            timeout=Duration.seconds(step.timeout_seconds),
            memory_size=step.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": constants.LAMBDA_LOG_LEVEL,
                **self._storage.environment,
            },
        )
        self._storage.grant(step.resources, function, workflows=(self.spec.name,))
        # Every step runs under step_handler, which logs a large input or output to the audit bucket.
        self._storage.grant_log_payloads(function)
        return function

    def _build_state_machine(self) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self,
            constants.STATE_MACHINE_LOG_GROUP_ID,
            log_group_name=constants.state_machine_log_group_name(self._stage, self.spec.name),
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        # from_string rather than from_file: the definition stays inline in the template (no S3
        # asset), so the synthesized template can be compared with the ASL file.
        text = self.spec.asl_path.read_text(encoding="utf-8")
        definition = sfn.DefinitionBody.from_string(text)
        # The files bucket's name, where the ASL names it (a Distributed Map's ItemReader/ResultWriter).
        resources = (
            {"FilesBucketName": self._storage.files_bucket.bucket_name}
            if "${FilesBucketName}" in text
            else {}
        )
        return sfn.StateMachine(
            self,
            constants.STATE_MACHINE_ID,
            comment=self.spec.description,
            definition_body=definition,
            definition_substitutions={
                step.placeholder: self.functions[step.name].function_arn for step in self.spec.steps
            }
            | resources,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
