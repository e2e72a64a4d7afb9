"""Alarms and a dashboard for one workflow, from the EMF metrics every step emits.

``functions.shared.step_handler`` emits, per invocation, in namespace ``Stepwise`` with the
dimensions ``service`` / ``workflow`` / ``step``: ``StepSucceeded``, ``StepFailed``,
``StepFailed.<ErrorName>`` (counts) and ``StepDuration`` (milliseconds). This construct turns them
into one error-rate alarm per registered step, plus one alarm on failed executions of the state
machine, and a dashboard that shows both. The rollout construct (``infra.rollout``) watches these
alarms during a canary.

Blind spots of the per-step alarms (they only see what the decorator emits): a Lambda that times
out, runs out of memory or fails at import time emits no EMF record, and an event the decorator
cannot parse emits ``StepFailed.InvalidInputError`` before the ``workflow``/``step`` dimensions are
set. The execution alarm still catches those runs when they end in a failed execution.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.registry import StepSpec, WorkflowSpec
from infra import constants

PERIOD = Duration.minutes(5)
ERROR_RATE_THRESHOLD_PERCENT = 5
ERROR_RATE_DATAPOINTS_TO_ALARM = 2
ERROR_RATE_EVALUATION_PERIODS = 3

STEP_SUCCEEDED = "StepSucceeded"
STEP_FAILED = "StepFailed"
STEP_DURATION = "StepDuration"
#: Emitted by the LLM client after every call (functions/shared/llm/client.py), same dimensions.
LLM_COST_USD = "LlmCostUsd"
LLM_TOKEN_METRICS = ("LlmInputTokens", "LlmOutputTokens", "LlmCacheReadTokens", "LlmCacheWriteTokens")

# Failed / (failed + succeeded), in percent. FILL(…, 0): StepFailed only exists in a period with a
# failure and StepSucceeded only in one with a success; without FILL, a period where every
# invocation failed would have no ``succeeded`` datapoint, the sum would be missing and the alarm
# (missing = not breaching) would stay OK exactly when a step is completely broken. The IF avoids
# dividing by zero in a period with no invocations at all.
ERROR_RATE_EXPRESSION = (
    "IF(FILL(failed, 0) + FILL(succeeded, 0) > 0, "
    "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(succeeded, 0)), 0)"
)

_FULL_WIDTH = 24
_HALF_WIDTH = 12
_GRAPH_HEIGHT = 6


def step_metric(
    spec: WorkflowSpec, step: StepSpec, metric_name: str, *, statistic: str = "Sum"
) -> cloudwatch.Metric:
    """One EMF metric of one step, with exactly the dimensions the step handler emits."""
    return cloudwatch.Metric(
        namespace=constants.METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={
            "service": constants.SERVICE_NAME,
            "workflow": spec.name,
            "step": step.name,
        },
        statistic=statistic,
        period=PERIOD,
        label=step.name,
    )


class WorkflowObservability(Construct):
    """Per-step error-rate alarms, a failed-executions alarm and a dashboard for one workflow."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: WorkflowSpec,
        state_machine: sfn.IStateMachine,
        stage: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self._stage = stage
        self.step_alarms: dict[str, cloudwatch.Alarm] = {
            step.name: self._error_rate_alarm(step) for step in spec.steps
        }
        self.execution_alarm = cloudwatch.Alarm(
            self,
            "ExecutionsFailedAlarm",
            alarm_name=f"{self._prefix}-executions-failed",
            alarm_description=f"{spec.name}: at least one execution failed in 5 minutes",
            metric=state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms: tuple[cloudwatch.Alarm, ...] = (*self.step_alarms.values(), self.execution_alarm)
        self.dashboard = self._dashboard(state_machine)

    @property
    def _prefix(self) -> str:
        return f"{constants.SERVICE_NAME}-{self._stage}-{self.spec.name}"

    def _error_rate_alarm(self, step: StepSpec) -> cloudwatch.Alarm:
        error_rate = cloudwatch.MathExpression(
            expression=ERROR_RATE_EXPRESSION,
            using_metrics={
                "failed": step_metric(self.spec, step, STEP_FAILED),
                "succeeded": step_metric(self.spec, step, STEP_SUCCEEDED),
            },
            period=PERIOD,
            label=f"{step.name} error rate (%)",
        )
        return cloudwatch.Alarm(
            self,
            f"{constants.function_id(step.name)}ErrorRateAlarm",
            alarm_name=f"{self._prefix}-{step.name}-error-rate",
            alarm_description=(
                f"{self.spec.name}.{step.name}: more than {ERROR_RATE_THRESHOLD_PERCENT}% of "
                f"invocations failed in {ERROR_RATE_DATAPOINTS_TO_ALARM} of "
                f"{ERROR_RATE_EVALUATION_PERIODS} 5-minute periods"
            ),
            metric=error_rate,
            threshold=ERROR_RATE_THRESHOLD_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=ERROR_RATE_EVALUATION_PERIODS,
            datapoints_to_alarm=ERROR_RATE_DATAPOINTS_TO_ALARM,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _dashboard(self, state_machine: sfn.IStateMachine) -> cloudwatch.Dashboard:
        steps = self.spec.steps

        def per_step(metric_name: str, statistic: str = "Sum") -> list[cloudwatch.IMetric]:
            return [step_metric(self.spec, step, metric_name, statistic=statistic) for step in steps]

        def graph(title: str, metrics: list[cloudwatch.IMetric], unit: str) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=metrics,
                left_y_axis=cloudwatch.YAxisProps(label=unit, min=0, show_units=False),
                legend_position=cloudwatch.LegendPosition.RIGHT,
                width=_HALF_WIDTH,
                height=_GRAPH_HEIGHT,
            )

        llm_steps = [step for step in steps if step.uses_llm]
        llm_row: list[cloudwatch.IWidget] = []
        if llm_steps:
            llm_row = [
                graph(
                    "LLM cost per step (USD sum / 5 min)",
                    [step_metric(self.spec, step, LLM_COST_USD) for step in llm_steps],
                    "USD",
                ),
                graph(
                    "LLM tokens (sum / 5 min)",
                    [
                        step_metric(self.spec, step, name).with_(label=f"{step.name} {name[3:]}")
                        for step in llm_steps
                        for name in LLM_TOKEN_METRICS
                    ],
                    "tokens",
                ),
            ]

        executions = graph(
            "Executions (sum / 5 min)",
            [
                state_machine.metric_started(period=PERIOD, statistic="Sum", label="started"),
                state_machine.metric_succeeded(period=PERIOD, statistic="Sum", label="succeeded"),
                state_machine.metric_failed(period=PERIOD, statistic="Sum", label="failed"),
            ],
            "count",
        )
        alarm_status = cloudwatch.AlarmStatusWidget(
            title="Alarms",
            alarms=list(self.alarms),
            sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            width=_HALF_WIDTH,
            height=_GRAPH_HEIGHT,
        )
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self._prefix,
            widgets=[
                [
                    cloudwatch.TextWidget(
                        markdown=f"## {self.spec.name} ({self._stage})\n{self.spec.description}",
                        width=_FULL_WIDTH,
                        height=2,
                    )
                ],
                [executions, alarm_status],
                [
                    graph("Steps succeeded (sum / 5 min)", per_step(STEP_SUCCEEDED), "count"),
                    graph("Steps failed (sum / 5 min)", per_step(STEP_FAILED), "count"),
                ],
                [
                    graph("Step duration p50", per_step(STEP_DURATION, "p50"), "ms"),
                    graph("Step duration p99", per_step(STEP_DURATION, "p99"), "ms"),
                ],
                *([llm_row] if llm_row else []),
            ],
        )
