"""The Stepwise CDK stack: storage, layers and the API, plus one nested stack per registered workflow.

The stack only composes constructs; each construct builds its own resources. Workflows live in
nested stacks (``infra/workflow_stack.py``) so each has its own template and resource budget.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from constructs import Construct

from functions.registry import WORKFLOWS
from infra import constants
from infra.api import StepwiseApi
from infra.observability import WorkflowObservability
from infra.packaging import DependencyLayers
from infra.rollout import StateMachineRollout
from infra.stage_context import read_stage_context
from infra.storage import Storage
from infra.workflow import Workflow
from infra.workflow_stack import WorkflowStack


class StepwiseStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("stepwise:stage", stage)
        removal_policy = RemovalPolicy.RETAIN if stage == constants.PROD_STAGE else RemovalPolicy.DESTROY
        # Per-stage settings from the context; a non-local stage without real ones is refused here.
        self.context = read_stage_context(self.node, stage)
        self.storage = Storage(
            self,
            constants.STORAGE_ID,
            stage=stage,
            context=self.context,
            removal_policy=removal_policy,
        )
        self.layers = DependencyLayers(self, constants.LAYERS_ID, removal_policy=removal_policy)
        # One nested stack (own template, own resource budget) per workflow of the registry.
        self.workflow_stacks: dict[str, WorkflowStack] = {
            name: WorkflowStack(
                self,
                constants.workflow_id(name),
                spec=spec,
                storage=self.storage,
                layers=self.layers,
                stage=stage,
                removal_policy=removal_policy,
            )
            for name, spec in WORKFLOWS.items()
        }
        self.workflows: dict[str, Workflow] = {n: s.workflow for n, s in self.workflow_stacks.items()}
        self.observability: dict[str, WorkflowObservability] = {
            n: s.observability for n, s in self.workflow_stacks.items()
        }
        self.rollouts: dict[str, StateMachineRollout] = {
            n: s.rollout for n, s in self.workflow_stacks.items()
        }
        # --- HTTP API (infra/api.py): after the rollouts, executions start on each "live" alias ---
        self.api = StepwiseApi(
            self,
            constants.API_ID,
            storage=self.storage,
            layers=self.layers,
            workflows={
                name: (workflow.state_machine, self.rollouts[name].alias_arn)
                for name, workflow in self.workflows.items()
            },
            stage=stage,
            removal_policy=removal_policy,
            api_clients=self.context.api_clients,
        )
        # Approval links point at the API: every function's STEPWISE_APPROVAL_LINK_BASE_URL.
        self.storage.use_approval_link_base_url(self.api.link_base_url)
        CfnOutput(self, constants.API_URL_OUTPUT_ID, value=self.api.url, description="Stepwise API stage URL")
        for name, key in self.api.api_keys.items():
            CfnOutput(
                self,
                constants.API_KEY_ID_OUTPUT_ID + key.node.id.removeprefix(constants.API_KEY_ID),
                value=key.key_id,
                description=f"API key id of client {name} (value: aws apigateway get-api-key --api-key <id>"
                " --include-value)",
            )
        CfnOutput(
            self,
            constants.TOKEN_URL_OUTPUT_ID,
            value=self.api.auth.token_url,
            description="OAuth2 token endpoint (client_credentials grant: the app client's id and secret)",
        )
        CfnOutput(
            self,
            constants.USER_POOL_ID_OUTPUT_ID,
            value=self.api.auth.user_pool.user_pool_id,
            description="Cognito user pool of the API clients (aws cognito-idp describe-user-pool-client"
            " --user-pool-id <id> --client-id <id> shows a client's secret)",
        )
        # --- end HTTP API ---
