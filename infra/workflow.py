"""One workflow of the step registry: a Lambda per step and the state machine from its ASL file.

This is the single factory for step Lambdas: every function is built by ``_build_function`` from
its ``StepSpec`` (handler, timeout, memory, resources), so adding a step to
``functions/registry.py`` and to the ASL file is all it takes to deploy it. The code asset is the
repository's ``functions/`` package; the third-party dependencies (``requirements.txt``) are not
packaged yet: the layer that ships them is not built in this version of the construct.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.registry import ROOT, StepSpec, WorkflowSpec
from infra import constants
from infra.storage import Storage


class Workflow(Construct):
    """Step Lambdas (least privilege, from the registry) and the state machine that runs them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: WorkflowSpec,
        storage: Storage,
        stage: str,
        removal_policy: RemovalPolicy,
        code_root: Path = ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self._storage = storage
        self._stage = stage
        self._removal_policy = removal_policy
        self._log_retention = constants.LOG_RETENTION[stage == constants.PROD_STAGE]
        code = lambda_.Code.from_asset(str(code_root), exclude=list(constants.FUNCTION_ASSET_EXCLUDE))
        self.functions: Mapping[str, lambda_.Function] = MappingProxyType(
            {step.name: self._build_function(step, code) for step in spec.steps}
        )
        self.state_machine = self._build_state_machine()
        for function in self.functions.values():
            function.grant_invoke(self.state_machine)

    def _build_function(self, step: StepSpec, code: lambda_.Code) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            constants.function_log_group_id(step.name),
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        function = lambda_.Function(
            self,
            constants.function_id(step.name),
            description=f"{self.spec.name}: {step.name} ({step.kind})",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=step.handler,
            code=code,
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
        self._storage.grant(step.resources, function)
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
        definition = sfn.DefinitionBody.from_string(self.spec.asl_path.read_text(encoding="utf-8"))
        return sfn.StateMachine(
            self,
            constants.STATE_MACHINE_ID,
            comment=self.spec.description,
            definition_body=definition,
            definition_substitutions={
                step.placeholder: self.functions[step.name].function_arn for step in self.spec.steps
            },
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
