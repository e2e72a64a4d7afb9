"""An EventBridge Scheduler schedule that starts a workflow on its ``live`` alias.

Target: the universal target ``arn:aws:scheduler:::aws-sdk:sfn:startExecution`` with the alias ARN
as ``StateMachineArn``, so a scheduled run is routed by the canary like any API start. The role
Scheduler assumes may only ``states:StartExecution`` on that alias (and only for this account:
``aws:SourceAccount``). The flexible time window is off: the run starts at the scheduled minute.

No execution name: Scheduler's context attributes cannot make one that is deterministic per period
(``<aws.scheduler.scheduled-time>`` contains ``:``, which execution names refuse, and
``<aws.scheduler.execution-id>`` changes with every attempt). A second start of the same period
(a Scheduler retry, a person's rerun) is harmless because every send is keyed on its business key
(client + period, ``functions/shared/business_keys.py``); it asks the approver once more.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from functions.registry import ScheduleSpec

START_EXECUTION_TARGET = "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
#: Scheduler retries a failed StartExecution (throttling, a deploy in progress) this often, within
#: an hour; after that the period is skipped and the next one catches the clients up.
MAX_RETRIES = 3
MAX_EVENT_AGE_S = 3600


class WorkflowSchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: ScheduleSpec, alias_arn: str, description: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        expression = stack.node.try_get_context(spec.context_key) or spec.expression
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"EventBridge Scheduler: start {description} on its live alias, nothing else",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[alias_arn]))
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"starts {description}",
            schedule_expression=str(expression),
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=START_EXECUTION_TARGET,
                role_arn=self.role.role_arn,
                input=stack.to_json_string({"StateMachineArn": alias_arn, "Input": spec.input_json}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=MAX_RETRIES, maximum_event_age_in_seconds=MAX_EVENT_AGE_S
                ),
            ),
        )
        # The role must exist with its policy before Scheduler first assumes it.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.schedule.node.add_dependency(policy)
