"""The run ledger: every LLM call charged to its run, the run's total in one read, the budget cap."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx2
import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel

from functions.registry import WORKFLOWS, Resource
from functions.shared.aws import client
from functions.shared.config import StepwiseSettings, settings
from functions.shared.errors import (
    ERROR_NAMES,
    BudgetExceeded,
    LLMFormatError,
    LLMRateLimitError,
    PermanentIntegrationError,
    TransientIntegrationError,
)
from functions.shared.ledger import (
    DynamoDbRunLedger,
    InMemoryRunLedger,
    LedgerEntry,
    RunCost,
    RunLedger,
    check_budget,
)
from functions.shared.llm.audit import InMemoryAuditStore
from functions.shared.llm.client import LLMCallContext, LLMClient, LLMResult
from functions.shared.llm.offline import Malformed, OfflineModel, RateLimited
from functions.shared.llm.settings import LLMSettings
from functions.shared.observability import metrics
from functions.shared.step_handler import StepContext, step_handler
from local.dispatch import LocalLambdaContext
from tests.unit.test_llm_client import API_KEY, FIXTURES, TOOL, VALID, LeadScore, lead_prompt, playbook

RUN = "sales_outreach-run-1"
CONTEXT = LLMCallContext(trace_id=RUN, step="research_lead", attempt=0, workflow="sales_outreach")

MakeClient = Callable[..., LLMClient]


@pytest.fixture
def model() -> OfflineModel:
    return OfflineModel(FIXTURES)


@pytest.fixture
def ledger() -> InMemoryRunLedger:
    return InMemoryRunLedger()


@pytest.fixture
def make_client(model: OfflineModel, ledger: InMemoryRunLedger) -> Iterator[MakeClient]:
    opened: list[httpx2.Client] = []

    def make(
        budgets: dict[str, float] | None = None, run_ledger: RunLedger | None = None, **llm: Any
    ) -> LLMClient:
        config = LLMSettings(anthropic_api_key=None, anthropic_secret_arn=None, **llm)
        http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
        opened.append(http)
        sdk = anthropic.Anthropic(api_key=API_KEY, max_retries=0, http_client=http)
        return LLMClient(
            sdk, InMemoryAuditStore(), config, ledger=run_ledger or ledger, budgets=budgets or {}
        )

    yield make
    for http in opened:
        http.close()


def score(llm: LLMClient, context: LLMCallContext = CONTEXT) -> LLMResult[LeadScore]:
    return llm.structured(
        operation="classify",
        playbook=playbook(),
        tool_name=TOOL,
        prompt=lead_prompt(name="Acme", industry="retail"),
        output_model=LeadScore,
        context=context,
    )


def entry(run: str = RUN, step: str = "research_lead", attempt: int = 0, **fields: Any) -> LedgerEntry:
    values: dict[str, Any] = {
        "workflow": "sales_outreach",
        "model": "claude-sonnet-4-6",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 0,
        "cache_write_tokens": 1500,
        "usd": 0.0099,
        **fields,
    }
    return LedgerEntry(run=run, step=step, attempt=attempt, **values)


# --- the client charges every call ---------------------------------------------------------------


def test_each_call_is_charged_to_its_run_with_the_tokens_and_cost_it_reported(
    make_client: MakeClient, ledger: InMemoryRunLedger
) -> None:
    # Given a client with a ledger
    llm = make_client()

    # When one run makes two calls (research, then a retried draft) and another run one call
    first = score(llm)
    second = score(
        llm, LLMCallContext(trace_id=RUN, step="draft_email", attempt=1, workflow="sales_outreach")
    )
    other = score(llm, LLMCallContext(trace_id="other-run", step="research_lead", attempt=0))

    # Then each call is one entry with its own usage, cost, model, step and attempt
    charged = ledger.entries(RUN)
    assert [(e.step, e.attempt, e.workflow, e.outcome) for e in charged] == [
        ("research_lead", 0, "sales_outreach", "ok"),
        ("draft_email", 1, "sales_outreach", "ok"),
    ]
    for result, charge in zip((first, second), charged, strict=True):
        assert charge.model == result.model
        assert charge.input_tokens == result.usage.input_tokens
        assert charge.output_tokens == result.usage.output_tokens
        assert charge.cache_read_tokens == result.usage.cache_read_input_tokens
        assert charge.cache_write_tokens == result.usage.cache_creation_input_tokens
        assert charge.usd == result.cost_usd
        assert 0 < result.latency_ms <= charge.latency_ms + 0.1  # the charge is made after the audit write
    # and the run's total is the sum of its own calls only
    assert ledger.total_usd(RUN) == pytest.approx(first.cost_usd + second.cost_usd)
    assert ledger.total_usd("other-run") == pytest.approx(other.cost_usd)
    assert first.cost_usd > 0


def test_a_paid_call_whose_audit_record_fails_is_still_charged(
    make_client: MakeClient, ledger: InMemoryRunLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an audit store that refuses every write
    llm = make_client()

    def refuse(*_: Any, **__: Any) -> None:
        raise TransientIntegrationError("audit store down")

    monkeypatch.setattr(InMemoryAuditStore, "put", refuse)

    # When a call succeeds at the model but its audit record cannot be stored
    with pytest.raises(TransientIntegrationError):
        score(llm)

    # Then the step fails (and will be retried), but the paid call is on the run's bill already
    (charged,) = ledger.entries(RUN)
    assert charged.outcome == "ok"
    assert charged.usd > 0


def test_a_ledger_that_refuses_for_good_fails_the_step_without_a_retry(make_client: MakeClient) -> None:
    # Given a ledger the role may not write (a deployment without the grant)
    class Forbidden(InMemoryRunLedger):
        def record(self, entry: LedgerEntry) -> None:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "TransactWriteItems"
            )

    llm = make_client(run_ledger=Forbidden())

    # Then the step fails with a permanent error: a retry would pay for the call and fail again
    with pytest.raises(PermanentIntegrationError, match="AccessDeniedException"):
        score(llm)


def test_a_call_whose_answer_never_validated_is_charged_with_its_error(
    make_client: MakeClient, model: OfflineModel, ledger: InMemoryRunLedger
) -> None:
    # Given a model that answers invalid output on every try
    model.script(TOOL, *[Malformed({**VALID, "fit": "excellent"})] * 3)

    # When the client gives up after its re-prompts
    with pytest.raises(LLMFormatError):
        score(make_client(max_reprompts=2))

    # Then the three paid exchanges are on the run's bill, marked with the error
    (charge,) = ledger.entries(RUN)
    assert charge.outcome == "LLMFormatError"
    assert charge.input_tokens > 0
    assert charge.usd > 0


def test_a_request_refused_before_any_token_costs_nothing(
    make_client: MakeClient, model: OfflineModel, ledger: InMemoryRunLedger
) -> None:
    model.script(TOOL, RateLimited())

    with pytest.raises(LLMRateLimitError):
        score(make_client())

    assert ledger.entries() == []


# --- the budget cap -----------------------------------------------------------------------------


def test_a_run_that_spent_its_cap_gets_budget_exceeded_before_any_request(
    make_client: MakeClient, model: OfflineModel, ledger: InMemoryRunLedger
) -> None:
    # Given a tiny cap for sales_outreach and a run whose first call spends more than it
    llm = make_client(budgets={"sales_outreach": 0.0001})
    first = score(llm)
    assert first.cost_usd > 0.0001
    requests = len(model.requests)

    # When the run asks for another call
    with pytest.raises(BudgetExceeded) as raised:
        score(llm, LLMCallContext(trace_id=RUN, step="draft_email", attempt=0, workflow="sales_outreach"))

    # Then no request was sent, nothing more was charged, and the cause names workflow, spent and cap
    assert len(model.requests) == requests
    assert len(ledger.entries(RUN)) == 1
    message = str(raised.value)
    assert "sales_outreach" in message
    assert f"${first.cost_usd:.6f}" in message
    assert "$0.000100" in message
    assert not BudgetExceeded.retryable
    assert "BudgetExceeded" in ERROR_NAMES  # reported to Step Functions under its own name


def test_other_workflows_and_other_runs_are_not_capped(make_client: MakeClient) -> None:
    # Given a cap for sales_outreach only
    llm = make_client(budgets={"sales_outreach": 0.0})

    # Then a referral run calls as often as it needs, and a run outside any workflow too
    for _ in range(3):
        score(
            llm, LLMCallContext(trace_id="referral-1", step="match_referral", attempt=0, workflow="referral")
        )
        score(llm, LLMCallContext(trace_id="tool-1", step="adhoc", attempt=0))
    # while a sales_outreach run with a zero cap makes no call at all
    with pytest.raises(BudgetExceeded):
        score(llm)


def test_inside_a_step_the_workflow_comes_from_the_running_step(
    make_client: MakeClient, model: OfflineModel, ledger: InMemoryRunLedger
) -> None:
    # Given a step of workflow "unit" (its module is tests.unit.<module>) whose call passes no workflow
    llm = make_client(budgets={"unit": 0.0001})

    class Ask(BaseModel):
        lead: str

    @step_handler(Ask)
    def ask(payload: Ask, ctx: StepContext) -> LeadScore:
        return score(llm, LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt)).value

    event = {"payload": {"lead": "Acme"}, "execution": "unit-run-1", "state": "Ask", "attempt": 0}

    # When it runs twice in one run
    ask(event, _lambda_context())
    with pytest.raises(BudgetExceeded):
        ask({**event, "state": "AskAgain"}, _lambda_context())

    # Then the call was charged to the step's workflow, whose cap stopped the second one
    (charge,) = ledger.entries("unit-run-1")
    assert charge.workflow == "unit"
    assert len(model.requests) == 1


def test_check_budget_compares_what_was_spent_with_the_cap() -> None:
    ledger = InMemoryRunLedger()
    ledger.record(entry(usd=0.04))
    budgets = {"sales_outreach": 0.05}

    check_budget(ledger, run=RUN, workflow="sales_outreach", budgets=budgets)  # 0.04 < 0.05
    ledger.record(entry(step="draft_email", usd=0.01))
    with pytest.raises(BudgetExceeded, match=r"spent \$0\.050000 .* budget is \$0\.050000"):
        check_budget(ledger, run=RUN, workflow="sales_outreach", budgets=budgets)
    check_budget(ledger, run="another-run", workflow="sales_outreach", budgets=budgets)


def test_budgets_are_a_json_setting_naming_registered_workflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPWISE_BUDGETS", json.dumps({"sales_outreach": 0.05, "referral": 0}))
    assert StepwiseSettings().budgets == {"sales_outreach": 0.05, "referral": 0.0}

    monkeypatch.setenv("STEPWISE_BUDGETS", json.dumps({"sales_outrech": 0.05}))
    with pytest.raises(ValueError, match="unknown workflows \\['sales_outrech'\\]"):
        StepwiseSettings()

    monkeypatch.setenv("STEPWISE_BUDGETS", json.dumps({"sales_outreach": -1}))
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        StepwiseSettings()


# --- metrics -------------------------------------------------------------------------------------


def test_each_call_emits_token_and_cost_metrics_under_the_step_dimensions(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given metrics that are really written (EMF on stdout) and a step that calls the model
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    llm = make_client()
    results: list[LLMResult[LeadScore]] = []

    class Ask(BaseModel):
        lead: str

    @step_handler(Ask)
    def ask(payload: Ask, ctx: StepContext) -> LeadScore:
        results.append(score(llm, LLMCallContext(trace_id=ctx.trace_id, step=ctx.step, attempt=ctx.attempt)))
        return results[-1].value

    capsys.readouterr()

    # When the step runs
    ask(
        {"payload": {"lead": "Acme"}, "execution": "unit-run-2", "state": "Ask", "attempt": 0},
        _lambda_context(),
    )

    # Then its EMF blob carries the Llm* metrics with the call's numbers, under workflow + step
    (blob,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert ["workflow", "step", "service"] in directive["Dimensions"]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    usage, cost = results[0].usage, results[0].cost_usd
    assert (blob["workflow"], blob["step"]) == ("unit", "test_run_ledger")
    assert blob["LlmInputTokens"] == [usage.input_tokens]
    assert blob["LlmOutputTokens"] == [usage.output_tokens]
    assert blob["LlmCacheReadTokens"] == [usage.cache_read_input_tokens]
    assert blob["LlmCacheWriteTokens"] == [usage.cache_creation_input_tokens]
    assert blob["LlmCostUsd"] == [pytest.approx(cost)]
    assert units["LlmInputTokens"] == "Count"
    assert units["LlmCostUsd"] == "None"
    assert blob["StepSucceeded"] == [1.0]
    assert metrics.metric_set == {}  # flushed with the invocation


def _lambda_context() -> Any:
    return LocalLambdaContext(
        function_name="stepwise-unit-step",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stepwise-unit-step",
        timeout_seconds=30,
    )


# --- the DynamoDB ledger -------------------------------------------------------------------------


@pytest.mark.usefixtures("moto_aws")
def test_the_dynamodb_ledger_keeps_calls_and_an_atomic_total_per_run() -> None:
    # Given the table the local runtime and CDK create
    ledger = DynamoDbRunLedger()
    table = client("dynamodb").describe_time_to_live(TableName=settings().run_ledger_table)
    assert table["TimeToLiveDescription"]["AttributeName"] == "expires_at"

    # When three calls of one run are recorded (draft_email retried) and one of another run
    ledger.record(entry(usd=0.0123456789))
    ledger.record(entry(step="draft_email", attempt=0, input_tokens=10, output_tokens=5, usd=0.001))
    ledger.record(
        entry(step="draft_email", attempt=1, cache_read_tokens=1500, cache_write_tokens=0, usd=0.002)
    )
    ledger.record(entry(run="sales_outreach-run-2", usd=0.5))

    # Then the run's total is one read, exact to the 10th decimal
    assert ledger.total_usd(RUN) == pytest.approx(0.0153456789, abs=1e-12)
    assert ledger.total_usd("sales_outreach-run-2") == 0.5
    assert ledger.total_usd("never-ran") == 0.0
    # the TOTAL item's sums equal its calls (ADD in the same transaction as each call's item)
    total = client("dynamodb").get_item(
        TableName=settings().run_ledger_table, Key={"pk": {"S": f"RUN#{RUN}"}, "sk": {"S": "TOTAL"}}
    )["Item"]
    assert int(total["calls"]["N"]) == 3
    assert int(total["input_tokens"]["N"]) == 2010
    assert Decimal(total["usd"]["N"]) == Decimal("0.0153456789")

    # and the run's cost has one row per step attempt, in the order they ran
    cost = ledger.run_cost(RUN)
    assert [(s.step, s.attempt) for s in cost.steps] == [
        ("research_lead", 0),
        ("draft_email", 0),
        ("draft_email", 1),
    ]
    assert cost.input_tokens == 2010
    assert cost.output_tokens == 405
    assert cost.cache_read_tokens == 1500
    assert cost.cache_write_tokens == 3000
    assert cost.usd == pytest.approx(0.0153456789)


@pytest.mark.usefixtures("moto_aws")
def test_a_run_without_calls_costs_nothing() -> None:
    assert DynamoDbRunLedger().run_cost("never-ran") == RunCost()


def test_the_api_shape_of_a_run_cost() -> None:
    ledger = InMemoryRunLedger()
    ledger.record(entry(usd=0.25))
    ledger.record(entry(usd=0.5))  # a second call in the same step attempt adds to its row

    assert ledger.run_cost(RUN).to_api() == {
        "inputTokens": 2000,
        "outputTokens": 400,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 3000,
        "usd": 0.75,
        "steps": [
            {
                "step": "research_lead",
                "attempt": 0,
                "model": "claude-sonnet-4-6",
                "inputTokens": 2000,
                "outputTokens": 400,
                "cacheReadTokens": 0,
                "cacheWriteTokens": 3000,
                "usd": 0.75,
            }
        ],
    }


def test_every_llm_step_may_write_the_run_ledger() -> None:
    llm_steps = [s for wf in WORKFLOWS.values() for s in wf.steps if s.uses_llm]
    assert llm_steps
    assert all(Resource.RUN_LEDGER_TABLE in s.resources for s in llm_steps)
    assert not any(
        Resource.RUN_LEDGER_TABLE in s.resources
        for wf in WORKFLOWS.values()
        for s in wf.steps
        if not s.uses_llm
    )


def test_a_client_without_a_ledger_caps_nothing(model: OfflineModel) -> None:
    # Given a client built without a ledger (the client's own unit tests, tools) but with a zero cap
    with httpx2.Client(transport=httpx2.MockTransport(model.handle)) as http:
        bare = LLMClient(
            anthropic.Anthropic(api_key=API_KEY, max_retries=0, http_client=http),
            InMemoryAuditStore(),
            LLMSettings(anthropic_api_key=None, anthropic_secret_arn=None),
            budgets={"sales_outreach": 0.0},
        )

        # Then its calls go through: without a ledger there is no spend to compare with the cap
        assert isinstance(score(bare).value, LeadScore)
