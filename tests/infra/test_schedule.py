"""The re-engagement sweep's schedule: EventBridge Scheduler starts it on the live alias, and nothing else.

cdk-nag and cfn-lint over the whole stack (schedule included) are ``test_stack_checks.py``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.registry import WORKFLOWS
from infra.schedule import START_EXECUTION_TARGET
from infra.stack import StepwiseStack
from tests.infra.conftest import offline_app
from tests.infra.templates import MergedTemplate, merge

SWEEP = WORKFLOWS["reengagement_sweep"]


def synth(outdir: Path, **context: object) -> MergedTemplate:
    app = offline_app(outdir, **context)
    return merge(StepwiseStack(app, "Stepwise-test", stage="test"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> MergedTemplate:
    return synth(tmp_path_factory.mktemp("cdk.out"))


def the_schedule(template: MergedTemplate) -> dict[str, Any]:
    (schedule,) = template.of_type("AWS::Scheduler::Schedule").values()
    return dict(schedule["Properties"])


def alias_id(template: MergedTemplate) -> str:
    return template.logical_id(template.stack.rollouts[SWEEP.name].alias)


def test_only_the_sweep_is_scheduled_weekly_at_a_fixed_minute(template: MergedTemplate) -> None:
    assert [wf.name for wf in WORKFLOWS.values() if wf.schedule is not None] == [SWEEP.name]
    props = the_schedule(template)
    assert SWEEP.schedule is not None
    assert props["ScheduleExpression"] == SWEEP.schedule.expression == "cron(0 7 ? * MON *)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"


def test_the_schedule_starts_the_sweep_on_its_live_alias_with_the_scheduled_time_as_period(
    template: MergedTemplate,
) -> None:
    target = the_schedule(template)["Target"]
    assert target["Arn"] == START_EXECUTION_TARGET
    # The universal target's input is the StartExecution request: the alias, and the run's input
    separator, parts = target["Input"]["Fn::Join"]
    alias = {"Fn::GetAtt": [alias_id(template), "Arn"]}
    request = json.loads(separator.join("<alias>" if part == alias else part for part in parts))
    assert request == {"StateMachineArn": "<alias>", "Input": '{"period": "<aws.scheduler.scheduled-time>"}'}
    # (no "Name": no execution name is deterministic per period; the business keys are, see README)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}


def test_the_scheduler_role_may_only_start_the_sweep_on_its_alias(template: MergedTemplate) -> None:
    role_ref = the_schedule(template)["Target"]["RoleArn"]
    role_id = role_ref["Fn::GetAtt"][0]
    role = template.resources[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert "ManagedPolicyArns" not in role
    statements = [
        statement
        for policy in template.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "states:StartExecution",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [alias_id(template), "Arn"]},
        }
    ]


def test_the_schedule_expression_comes_from_the_cdk_context(tmp_path: Path) -> None:
    assert SWEEP.schedule is not None
    daily = synth(tmp_path, **{SWEEP.schedule.context_key: "cron(30 5 * * ? *)"})
    assert the_schedule(daily)["ScheduleExpression"] == "cron(30 5 * * ? *)"
