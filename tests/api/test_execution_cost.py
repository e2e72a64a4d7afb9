"""``GET /executions/{id}`` answers what a run cost: totals and one row per LLM step attempt."""

from __future__ import annotations

from typing import Any

import pytest

from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.ledger import get_run_ledger
from tests.api.conftest import Api

TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens")


def test_a_run_waiting_for_approval_shows_what_its_two_llm_steps_cost(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run that researched the lead and drafted the email, and now waits for the approver
    execution_id = api.start(outreach).json()["executionId"]
    api.wait_for_approval(execution_id)

    # When an operator reads it
    run = api.request("GET", f"/executions/{execution_id}").json()

    # Then its cost has one row per LLM step, and totals that are the sum of the rows
    cost = run["cost"]
    assert set(cost) == {*TOKEN_KEYS, "usd", "steps"}
    assert [(row["step"], row["attempt"]) for row in cost["steps"]] == [
        ("research_lead", 0),
        ("draft_email", 0),
    ]
    for row in cost["steps"]:
        assert set(row) == {"step", "attempt", "model", *TOKEN_KEYS, "usd"}
        assert row["model"].startswith("claude-")
        assert row["usd"] > 0
    for key in TOKEN_KEYS:
        assert cost[key] == sum(row[key] for row in cost["steps"])
    assert cost["inputTokens"] > 0
    assert cost["usd"] == pytest.approx(sum(row["usd"] for row in cost["steps"]))
    # and the total is the one the budget cap reads
    assert cost["usd"] == pytest.approx(get_run_ledger().total_usd(execution_id))


def test_a_run_that_never_called_the_model_costs_nothing(api: Api, outreach: dict[str, Any]) -> None:
    # Given a do-not-contact lead: the run ends at ValidateLead
    execution_id = api.start({**outreach, "lead_id": "L-400"}).json()["executionId"]
    assert api.wait_for_end(execution_id)["status"] == "SUCCEEDED"

    run = api.request("GET", f"/executions/{execution_id}").json()

    assert run["cost"] == {
        "inputTokens": 0,
        "outputTokens": 0,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "usd": 0.0,
        "steps": [],
    }


def test_an_unreadable_ledger_leaves_the_cost_out_but_not_the_run(api: Api, outreach: dict[str, Any]) -> None:
    # Given a finished run, and a ledger the API cannot read (as without its grant)
    execution_id = api.start({**outreach, "lead_id": "L-400"}).json()["executionId"]
    assert api.wait_for_end(execution_id)["status"] == "SUCCEEDED"
    client("dynamodb").delete_table(TableName=settings().run_ledger_table)

    # When an operator reads the run
    reply = api.request("GET", f"/executions/{execution_id}")

    # Then the status and timeline are there, and the cost is null rather than a 500
    assert reply.status == 200
    run = reply.json()
    assert run["status"] == "SUCCEEDED"
    assert run["timeline"]
    assert run["cost"] is None
