"""One nested stack per workflow: its step Lambdas, state machine, alarms, dashboard and canary.

Why nested: every workflow gets a template of its own (``cdk.out/*.nested.template.json``) and its
own 500-resource budget, while ``cdk deploy`` still ships the whole product in one go. Storage,
layers and the API stay in the parent stack; CloudFormation passes their names and ARNs in as
parameters and hands the state machine and alias ARNs back as outputs.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import NestedStack, RemovalPolicy, Tags
from constructs import Construct

from functions.registry import WorkflowSpec
from infra import constants
from infra.observability import WorkflowObservability
from infra.packaging import DependencyLayers
from infra.rollout import StateMachineRollout
from infra.schedule import WorkflowSchedule
from infra.storage import Storage
from infra.workflow import Workflow


class WorkflowStack(NestedStack):
    """``Workflow`` + ``WorkflowObservability`` + ``StateMachineRollout`` for one registry entry."""

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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"stepwise {stage}: {spec.name} workflow", **kwargs)
        Tags.of(self).add("stepwise:workflow", spec.name)
        self.spec = spec
        self.workflow = Workflow(
            self,
            constants.WORKFLOW_CONSTRUCT_ID,
            spec=spec,
            storage=storage,
            layers=layers,
            stage=stage,
            removal_policy=removal_policy,
        )
        self.observability = WorkflowObservability(
            self,
            constants.OBSERVABILITY_ID,
            spec=spec,
            state_machine=self.workflow.state_machine,
            stage=stage,
        )
        # Canary: the new definition takes 10% of executions started on the alias for 10 minutes,
        # and rolls back if any of the workflow's alarms fires meanwhile.
        self.rollout = StateMachineRollout(
            self,
            constants.ROLLOUT_ID,
            state_machine=self.workflow.state_machine,
            alarms=self.observability.alarms,
            description=f"{spec.name} ({stage})",
        )
        # A scheduled workflow (the re-engagement sweep): EventBridge Scheduler starts it on the alias.
        self.schedule: WorkflowSchedule | None = None
        if spec.schedule is not None:
            self.schedule = WorkflowSchedule(
                self,
                "Schedule",
                spec=spec.schedule,
                alias_arn=self.rollout.alias_arn,
                description=f"{spec.name} ({stage})",
            )
