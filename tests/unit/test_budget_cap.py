"""Budget caps on real runs: the real ASL on moto, the real handlers, the offline model, the run ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.adapters import get_crm
from functions.shared.approvals import Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.ledger import get_run_ledger
from local.runtime import LocalRuntime, RunResult

TINY = 0.0001  # less than any one call of the offline model costs
GENEROUS = 5.0


def _example(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / f"{workflow}.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def capped(request: pytest.FixtureRequest) -> Iterator[LocalRuntime]:
    """A local runtime whose workflows have the caps given by the test's parameter."""
    with LocalRuntime(env={"STEPWISE_BUDGETS": json.dumps(request.param)}) as runtime:
        yield runtime


def run_to_end(runtime: LocalRuntime, workflow: str, payload: dict[str, Any]) -> RunResult:
    """Start a run and approve every approval it asks for."""
    arn = runtime.start(workflow, payload)
    while pending := runtime.approvals_to_decide(arn):
        for record in pending:
            runtime.decide(record, Decision(decision="approve", comment="ok"))
    return runtime.result(arn)


def audit_costs(run: str) -> list[float]:
    """``cost_usd`` of every audit record the run's LLM calls wrote."""
    s3 = client("s3")
    bucket = settings().audit_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"audit/{run}/").get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["cost_usd"] for key in keys]


@pytest.mark.parametrize("capped", [{"sales_outreach": TINY}], indirect=True)
def test_a_run_over_its_tiny_cap_fails_at_the_next_llm_step_before_any_side_effect(
    capped: LocalRuntime,
) -> None:
    # Given sales_outreach may spend $0.0001 per run, and a good-fit lead
    # When a run researches the lead (its first call spends more than the cap) and wants a draft
    result = run_to_end(capped, "sales_outreach", _example("sales_outreach"))
    run = result.execution_arn.rsplit(":", 1)[-1]

    # Then the run FAILED at DraftEmail with BudgetExceeded, naming the workflow, what it spent and the cap
    assert result.status == "FAILED"
    assert result.error == "BudgetExceeded"
    spent = get_run_ledger().total_usd(run)
    assert spent > TINY
    assert result.cause is not None
    assert "sales_outreach" in result.cause
    assert f"${spent:.6f}" in result.cause
    assert f"${TINY:.6f}" in result.cause
    # it was not retried, and no state ran after it
    states = [r.state for r in result.timeline]
    assert states == ["ValidateLead", "ResearchLead", "IsGoodFit", "DraftEmail"]
    assert next(r for r in result.timeline if r.state == "DraftEmail").attempts == 1
    # so the lead was never marked, no approval was requested and nothing was sent
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "new"
    assert capped.pending_approvals(run) == []
    assert capped.outbox() == []
    # and the ledger shows the one call the run made
    assert [(s.step, s.attempt) for s in get_run_ledger().run_cost(run).steps] == [("research_lead", 0)]


@pytest.mark.parametrize("capped", [{"law_firm_ops": TINY}], indirect=True)
def test_a_capped_step_inside_a_catch_runs_the_compensations_and_the_run_keeps_budget_exceeded(
    capped: LocalRuntime,
) -> None:
    # Given law_firm_ops may spend $0.0001 per run: ClassifyMatter spends it, DraftLetter is capped
    result = run_to_end(capped, "law_firm_ops", _example("law_firm_ops"))

    # Then the States.ALL catch undid the matter and the client status, recorded the failure, and the
    # Fail state kept BudgetExceeded and its cause
    assert result.status == "FAILED"
    assert result.error == "BudgetExceeded"
    assert result.cause is not None
    assert "law_firm_ops" in result.cause
    states = [r.state for r in result.timeline]
    assert states[states.index("DraftLetter") :] == [
        "DraftLetter",
        "ArchiveMatterAfterFailure",
        "RevertStatusAfterFailure",
        "RecordFailure",
        "OnboardingFailed",
    ]


@pytest.mark.parametrize("capped", [{"sales_outreach": GENEROUS}], indirect=True)
def test_a_run_within_a_generous_cap_succeeds_and_its_ledger_matches_its_audit_records(
    capped: LocalRuntime,
) -> None:
    # Given sales_outreach may spend $5 per run
    # When a run goes from research to the sent email
    result = run_to_end(capped, "sales_outreach", _example("sales_outreach"))
    run = result.execution_arn.rsplit(":", 1)[-1]

    # Then it succeeded
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert result.output["status"] == "sent"
    # and what the ledger says the run cost is what its audit records say, call by call
    cost = get_run_ledger().run_cost(run)
    audited = audit_costs(run)
    assert len(audited) == 2
    assert sorted(s.usd for s in cost.steps) == pytest.approx(sorted(audited))
    assert cost.usd == pytest.approx(sum(audited))
    assert get_run_ledger().total_usd(run) == pytest.approx(sum(audited))
    assert [s.step for s in cost.steps] == ["research_lead", "draft_email"]
    assert 0 < cost.usd < GENEROUS
