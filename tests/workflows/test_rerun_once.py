"""Once means once across runs: a fresh execution of the same business input repeats nothing.

Each scenario runs a workflow to success, then starts it again with the same input (a new
execution name, as a rerun or a scheduler retry would), and counts what reached the outside world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.registry import ROOT
from functions.shared.adapters import get_billing
from local.runtime import LocalRuntime
from tests.workflows.conftest import approve, drive


def example(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / f"{workflow}.json").read_text(encoding="utf-8"))
    return loaded


def sent(runtime: LocalRuntime, subject_prefix: str) -> list[str]:
    return [e["to"] for e in runtime.outbox() if e["subject"].startswith(subject_prefix)]


@pytest.mark.slow
def test_re_running_the_same_day_re_sends_no_confirmation_and_no_task(runtime: LocalRuntime) -> None:
    # Given a day whose run succeeded: two confirmation requests and the manager's task list went out
    day = example("no_show")
    first = drive(runtime, "no_show", day, approve)
    assert first.status == "SUCCEEDED"
    confirmations, tasks = sent(runtime, "Please confirm"), sent(runtime, "Task:")
    assert len(confirmations) == 2
    assert len(tasks) == 1

    # When the same day is run again (a fresh execution) and the manager approves again
    second = drive(runtime, "no_show", day, approve)

    # Then it succeeds and no client or manager got anything twice
    assert second.status == "SUCCEEDED"
    assert second.execution_arn != first.execution_arn
    assert sent(runtime, "Please confirm") == confirmations
    assert sent(runtime, "Task:") == tasks


@pytest.mark.slow
def test_a_fresh_run_of_the_same_outreach_sends_no_second_email(runtime: LocalRuntime) -> None:
    # Given an outreach that was approved and sent
    lead = example("sales_outreach")
    assert drive(runtime, "sales_outreach", lead, approve).status == "SUCCEEDED"
    emails = [e for e in runtime.outbox() if not e["subject"].startswith("Approval needed")]
    assert len(emails) == 1

    # When the same lead and campaign are run again
    drive(runtime, "sales_outreach", lead, approve)

    # Then the lead still has exactly one email
    again = [e for e in runtime.outbox() if not e["subject"].startswith("Approval needed")]
    assert again == emails


@pytest.mark.slow
def test_a_fresh_run_of_the_same_referral_thanks_and_credits_once(runtime: LocalRuntime) -> None:
    # Given a referral that was rewarded
    referral = example("referral")
    assert drive(runtime, "referral", referral, approve).status == "SUCCEEDED"
    outbox = runtime.outbox()
    credits = get_billing().list_credits(referral["referrer_contact_id"])
    assert len(credits) == 1

    # When the same referral is run again
    drive(runtime, "referral", referral, approve)

    # Then the referrer has one credit and nobody got a second email
    assert get_billing().list_credits(referral["referrer_contact_id"]) == credits
    assert [e for e in runtime.outbox() if not e["subject"].startswith("Approval needed")] == [
        e for e in outbox if not e["subject"].startswith("Approval needed")
    ]
