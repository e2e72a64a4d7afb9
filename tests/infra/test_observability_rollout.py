"""Alarms, dashboard and canary rollout of a workflow, on a small stack of their own.

The stack holds ``Storage``, ``DependencyLayers`` (not bundled) and the ``sales_outreach``
``Workflow``, plus ``WorkflowObservability`` and ``StateMachineRollout`` on top: the constructs
``infra/workflow_stack.py`` puts in each workflow's nested stack, flat here so the canary's own
parameters can be varied (the real nested stacks are covered by test_workflow_stack/test_stack_checks).
It is synthesized once for the whole module; every test reads the same template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from functions.registry import WORKFLOWS, StepSpec, WorkflowSpec
from functions.shared.api_clients import local_directory
from infra import constants
from infra.observability import ERROR_RATE_THRESHOLD_PERCENT, WorkflowObservability
from infra.packaging import DependencyLayers
from infra.rollout import StateMachineRollout
from infra.stage_context import StageContext
from infra.storage import Storage
from infra.workflow import Workflow
from tests.infra.conftest import APPROVERS_JSON, ESCALATION_APPROVER, SENDER_EMAIL, offline_app

STAGE = "test"
CANARY_PERCENT = 7
INTERVAL_MINUTES = 15
SPEC: WorkflowSpec = WORKFLOWS["sales_outreach"]


@dataclass(frozen=True)
class Synthesized:
    stack: cdk.Stack
    workflow: Workflow
    observability: WorkflowObservability
    rollout: StateMachineRollout
    template: Template

    @property
    def resources(self) -> Mapping[str, Any]:
        return cast(Mapping[str, Any], self.template.to_json()["Resources"])

    def logical_id(self, construct: Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return self.stack.get_logical_id(cast(cdk.CfnElement, element))

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    app = offline_app(tmp_path_factory.mktemp("cdk.out"))
    stack = cdk.Stack(app, "Stepwise-observability-test")
    storage = Storage(
        stack,
        constants.STORAGE_ID,
        stage=STAGE,
        # no API here: approval links point at a custom domain (context approvalLinkBaseUrl)
        context=StageContext(
            SENDER_EMAIL,
            ESCALATION_APPROVER,
            "https://approvals.acme-demo.com/",
            APPROVERS_JSON,
            local_directory(),
        ),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    layers = DependencyLayers(stack, constants.LAYERS_ID, removal_policy=cdk.RemovalPolicy.DESTROY)
    workflow = Workflow(
        stack,
        constants.workflow_id(SPEC.name),
        spec=SPEC,
        storage=storage,
        layers=layers,
        stage=STAGE,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    observability = WorkflowObservability(
        stack, "Observability", spec=SPEC, state_machine=workflow.state_machine, stage=STAGE
    )
    rollout = StateMachineRollout(
        stack,
        "Rollout",
        state_machine=workflow.state_machine,
        alarms=observability.alarms,
        canary_percent=CANARY_PERCENT,
        interval_minutes=INTERVAL_MINUTES,
    )
    return Synthesized(
        stack=stack,
        workflow=workflow,
        observability=observability,
        rollout=rollout,
        template=Template.from_stack(stack),
    )


def _alarm(synthesized: Synthesized, alarm: cloudwatch.Alarm) -> dict[str, Any]:
    return cast(dict[str, Any], synthesized.resources[synthesized.logical_id(alarm)]["Properties"])


def _metric_stats(alarm_properties: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Query id → ``MetricStat`` of the metric queries of a metric-math alarm."""
    return {
        query["Id"]: query["MetricStat"] for query in alarm_properties["Metrics"] if "MetricStat" in query
    }


def _dimensions(metric_stat: Mapping[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in metric_stat["Metric"]["Dimensions"]}


def _dashboard_body(synthesized: Synthesized) -> str:
    """The dashboard body with its tokens (``Ref``, ``Fn::GetAtt``…) rendered as their JSON."""
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, str):
        return body
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


# --- per-step error-rate alarms -------------------------------------------------------------------
def test_every_registered_step_gets_exactly_one_error_rate_alarm(synthesized: Synthesized) -> None:
    # Given the sales_outreach registry entry
    expected_names = {f"stepwise-{STAGE}-{SPEC.name}-{step.name}-error-rate" for step in SPEC.steps}

    # When the template is synthesized
    names = {
        alarm["Properties"]["AlarmName"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["AlarmName"].endswith("-error-rate")
    }

    # Then there is one error-rate alarm per step, named after stage, workflow and step
    assert names == expected_names
    assert set(synthesized.observability.step_alarms) == {step.name for step in SPEC.steps}


@pytest.mark.parametrize("step", SPEC.steps, ids=lambda step: step.name)
def test_a_step_alarm_divides_that_steps_failures_by_its_invocations(
    synthesized: Synthesized, step: StepSpec
) -> None:
    # Given the alarm of one step
    alarm = _alarm(synthesized, synthesized.observability.step_alarms[step.name])

    # When its metric queries are read
    stats = _metric_stats(alarm)

    # Then it reads StepFailed and StepSucceeded of exactly this step, as the step handler emits them
    assert {stat["Metric"]["MetricName"] for stat in stats.values()} == {"StepFailed", "StepSucceeded"}
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "Stepwise"
        assert _dimensions(stat) == {"service": "stepwise", "workflow": SPEC.name, "step": step.name}
        assert stat["Stat"] == "Sum"
        assert stat["Period"] == 300
    # And the returned expression is a failure percentage over both
    (expression,) = [query for query in alarm["Metrics"] if "Expression" in query]
    assert expression["ReturnData"] is not False
    for query_id in stats:
        assert query_id in expression["Expression"]
    assert "100 *" in expression["Expression"]


def test_a_step_alarm_fires_above_five_percent_in_two_of_three_periods(synthesized: Synthesized) -> None:
    # Given any step's error-rate alarm
    for alarm_construct in synthesized.observability.step_alarms.values():
        # When its evaluation settings are read
        alarm = _alarm(synthesized, alarm_construct)

        # Then 2 of 3 five-minute datapoints above 5 % raise it, and silence does not
        assert alarm["Threshold"] == ERROR_RATE_THRESHOLD_PERCENT == 5
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["DatapointsToAlarm"] == 2
        assert alarm["EvaluationPeriods"] == 3
        assert alarm["TreatMissingData"] == "notBreaching"


# --- execution alarm -------------------------------------------------------------------------------
def test_one_failed_execution_in_five_minutes_raises_the_execution_alarm(synthesized: Synthesized) -> None:
    # Given the workflow's state machine
    state_machine_id = synthesized.logical_id(synthesized.workflow.state_machine)

    # When the execution alarm is read
    alarm = _alarm(synthesized, synthesized.observability.execution_alarm)

    # Then it watches ExecutionsFailed of that state machine: sum ≥ 1 over 5 minutes
    assert alarm["AlarmName"] == f"stepwise-{STAGE}-{SPEC.name}-executions-failed"
    assert alarm["Namespace"] == "AWS/States"
    assert alarm["MetricName"] == "ExecutionsFailed"
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": state_machine_id}}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 300
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_alarms_tuple_is_every_step_alarm_plus_the_execution_alarm(synthesized: Synthesized) -> None:
    # Given the observability construct
    observability = synthesized.observability

    # When its alarms are listed
    alarms = observability.alarms

    # Then they are the step alarms and the execution alarm, each once, and all the stack has
    assert len(alarms) == len(SPEC.steps) + 1 == len(set(alarms))
    assert set(alarms) == {*observability.step_alarms.values(), observability.execution_alarm}
    synthesized.template.resource_count_is("AWS::CloudWatch::Alarm", len(alarms))


# --- dashboard ---------------------------------------------------------------------------------------
def test_the_dashboard_shows_executions_every_step_and_the_alarms(synthesized: Synthesized) -> None:
    # Given the synthesized dashboard
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": f"stepwise-{STAGE}-{SPEC.name}"}
    )

    # When its body is rendered
    body = _dashboard_body(synthesized)

    # Then it names every step, the step metrics, the execution metrics and the alarm widget
    for step in SPEC.steps:
        assert f'"step","{step.name}"' in body, step.name
    for metric in ("StepSucceeded", "StepFailed", "StepDuration", "ExecutionsStarted", "ExecutionsFailed"):
        assert metric in body, metric
    assert '"stat":"p50"' in body
    assert '"stat":"p99"' in body
    assert '"type":"alarm"' in body


def test_the_dashboard_graphs_llm_cost_and_tokens_of_each_llm_step_only(synthesized: Synthesized) -> None:
    # Given the rendered dashboard and the workflow's LLM steps
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    # tokens (region, alarm ARNs) sit inside JSON strings: a placeholder keeps the body parseable
    body = json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))
    llm_steps = {step.name for step in SPEC.steps if step.uses_llm}
    assert llm_steps

    # When the metrics of its LLM widgets are collected: [namespace, name, dim, value, ...]
    widgets = {w["properties"].get("title", ""): w["properties"] for w in body["widgets"]}
    cost = widgets["LLM cost per step (USD sum / 5 min)"]["metrics"]
    tokens = widgets["LLM tokens (sum / 5 min)"]["metrics"]

    # Then cost is one line per LLM step, and tokens four lines per LLM step (in, out, cache read/write)
    def step_of(metric: list[Any]) -> str:
        return str(metric[metric.index("step") + 1])

    assert sorted(step_of(m) for m in cost) == sorted(llm_steps)
    assert {m[1] for m in cost} == {"LlmCostUsd"}
    assert len(tokens) == 4 * len(llm_steps)
    assert {m[1] for m in tokens} == {
        "LlmInputTokens",
        "LlmOutputTokens",
        "LlmCacheReadTokens",
        "LlmCacheWriteTokens",
    }
    assert {step_of(m) for m in tokens} == llm_steps


# --- rollout -------------------------------------------------------------------------------------------
def test_the_version_publishes_the_state_machines_current_revision(synthesized: Synthesized) -> None:
    # Given the workflow's state machine
    state_machine_id = synthesized.logical_id(synthesized.workflow.state_machine)

    # When the version is read
    synthesized.template.resource_count_is("AWS::StepFunctions::StateMachineVersion", 1)
    version = synthesized.resources[synthesized.logical_id(synthesized.rollout.version)]

    # Then it is a version of that state machine at its revision id
    assert version["Properties"]["StateMachineArn"] == {"Ref": state_machine_id}
    assert version["Properties"]["StateMachineRevisionId"] == {
        "Fn::GetAtt": [state_machine_id, "StateMachineRevisionId"]
    }


def test_the_live_alias_canaries_the_new_version_and_rolls_back_on_the_workflow_alarms(
    synthesized: Synthesized,
) -> None:
    # Given the version and the workflow's alarms
    version_id = synthesized.logical_id(synthesized.rollout.version)
    alarm_ids = {synthesized.logical_id(alarm) for alarm in synthesized.observability.alarms}

    # When the alias is read
    synthesized.template.resource_count_is("AWS::StepFunctions::StateMachineAlias", 1)
    alias = synthesized.resources[synthesized.logical_id(synthesized.rollout.alias)]["Properties"]
    preference = alias["DeploymentPreference"]

    # Then "live" shifts CANARY_PERCENT % to the version for INTERVAL_MINUTES
    assert alias["Name"] == "live"
    assert preference["Type"] == "CANARY"
    assert preference["Percentage"] == CANARY_PERCENT
    assert preference["Interval"] == INTERVAL_MINUTES
    assert preference["StateMachineVersionArn"] == {"Fn::GetAtt": [version_id, "Arn"]}
    # And it watches exactly the workflow's alarms, by name (Ref of an alarm is its name)
    assert len(preference["Alarms"]) == len(alarm_ids)
    assert {ref["Ref"] for ref in preference["Alarms"]} == alarm_ids
    # And the alias ARN the API must start executions on is the alias's own
    assert synthesized.stack.resolve(synthesized.rollout.alias_arn) == {
        "Fn::GetAtt": [synthesized.logical_id(synthesized.rollout.alias), "Arn"]
    }


@pytest.mark.parametrize(
    ("canary_percent", "interval_minutes", "alarm_count"),
    [(0, 10, 1), (100, 10, 1), (10, 0, 1), (10, 2101, 1), (10, 10, 0)],
    ids=["zero-percent", "all-traffic", "zero-interval", "interval-too-long", "no-alarms"],
)
def test_a_canary_that_cloudformation_would_reject_fails_at_synth(
    canary_percent: int, interval_minutes: int, alarm_count: int
) -> None:
    # Given a bare state machine and some alarms
    stack = cdk.Stack(cdk.App(), "Rejected")
    state_machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Pass"))
    )
    alarms = [
        cloudwatch.Alarm(
            stack, f"Alarm{i}", metric=state_machine.metric_failed(), threshold=1, evaluation_periods=1
        )
        for i in range(alarm_count)
    ]

    # When a rollout is configured outside CloudFormation's limits
    # Then construction fails with a message instead of a failed deployment
    with pytest.raises(ValueError, match=r"must be|needs"):
        StateMachineRollout(
            stack,
            "Rollout",
            state_machine=state_machine,
            alarms=alarms,
            canary_percent=canary_percent,
            interval_minutes=interval_minutes,
        )
