"""Canary rollout of a state machine: a published version and a ``live`` alias that shifts to it.

Every deployment that changes the state machine (definition or configuration) changes its revision
id; the ``AWS::StepFunctions::StateMachineVersion`` here is then replaced by a new version of that
revision, and the alias's deployment preference (CANARY) makes CloudFormation send
``canary_percent`` % of the alias's executions to the new version for ``interval_minutes``, then
100 %. If any of ``alarms`` goes to ALARM during the deployment, the alias update fails, traffic
returns to the previous version and the stack update rolls back automatically.

Only executions started **on the alias ARN** (``alias_arn``) are routed by the alias: clients (the
API, later) must call ``StartExecution`` with ``alias_arn``, not the state machine ARN, or the
canary shifts nothing and nothing is rolled back.

What the canary does not cover: the step Lambdas are unversioned, so both versions call the same
function code, and a code-only change to a step reaches all traffic at once. The first deployment
creates the alias pointing at the first version directly (there is nothing to shift from).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

ALIAS_NAME = "live"
DEPLOYMENT_TYPE = "CANARY"

# CloudFormation limits of AWS::StepFunctions::StateMachineAlias DeploymentPreference.
_PERCENT_RANGE = range(1, 100)
_INTERVAL_RANGE = range(1, 2101)
_MAX_ALARMS = 100


class StateMachineRollout(Construct):
    """A version of ``state_machine``'s current revision and a ``live`` alias with a canary."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        alarms: Sequence[cloudwatch.IAlarm],
        canary_percent: int = 10,
        interval_minutes: int = 10,
        description: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if canary_percent not in _PERCENT_RANGE:
            raise ValueError(f"canary_percent must be 1..99, got {canary_percent}")
        if interval_minutes not in _INTERVAL_RANGE:
            raise ValueError(f"interval_minutes must be 1..2100, got {interval_minutes}")
        if not 1 <= len(alarms) <= _MAX_ALARMS:
            raise ValueError(f"a canary needs 1..{_MAX_ALARMS} alarms to roll back on, got {len(alarms)}")

        self.version = sfn.CfnStateMachineVersion(
            self,
            "Version",
            state_machine_arn=state_machine.state_machine_arn,
            # Fn::GetAtt StateMachineRevisionId: a new revision replaces this resource (new version).
            state_machine_revision_id=state_machine.state_machine_revision_id,
            description=description,
        )
        self.alias = sfn.CfnStateMachineAlias(
            self,
            "Alias",
            name=ALIAS_NAME,
            description=f"{ALIAS_NAME}: canary {canary_percent}% for {interval_minutes} min",
            deployment_preference=sfn.CfnStateMachineAlias.DeploymentPreferenceProperty(
                type=DEPLOYMENT_TYPE,
                # Fn::GetAtt Arn of the version (its Ref is the same ARN).
                state_machine_version_arn=self.version.attr_arn,
                percentage=canary_percent,
                interval=interval_minutes,
                # Alarm NAMES, not ARNs: CloudFormation documents that an ARN here (or any unknown
                # name) reads as an OK alarm, so the deployment would never roll back.
                alarms=[alarm.alarm_name for alarm in alarms],
            ),
        )
        self.alias_arn: str = self.alias.attr_arn
