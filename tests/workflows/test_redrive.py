"""Redrive: a failed run continues from its unsuccessful state, and what it already did stays done.

The local runtime emulates ``RedriveExecution`` (``local/redrive.py``); these scenarios drive it
through boto3 exactly as a caller of AWS would, and count what reached the outside world.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.law_firm_ops.models import derived_client_id, matter_id_for, retainer_invoice_id_for
from functions.registry import ROOT
from functions.shared.adapters import get_billing, get_crm
from local.runtime import LocalRuntime
from tests.workflows.conftest import activities, approve, drive

pytestmark = pytest.mark.slow


def example(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / f"{workflow}.json").read_text(encoding="utf-8"))
    return loaded


def entered(runtime: LocalRuntime, arn: str) -> Counter[str]:
    return Counter(
        e["stateEnteredEventDetails"]["name"] for e in runtime.history(arn) if "stateEnteredEventDetails" in e
    )


def not_redrivable(runtime: LocalRuntime, arn: str) -> str:
    with pytest.raises(ClientError) as raised:
        runtime.sfn.redrive_execution(executionArn=arn)
    assert raised.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    return str(raised.value.response["Error"]["Message"])


def test_a_redriven_referral_thanks_and_credits_once_and_logs_once(runtime: LocalRuntime) -> None:
    # Given a referral whose last step (the CRM log) fails after it ran, until its retries run out,
    # so the run FAILED after the thank-you email was sent and the credit granted
    referral = {**example("referral"), "referrer_contact_id": "RF-300", "reward_cents": 5000}
    runtime.dispatcher.inject("LogRewarded", "Lambda.Unknown", times=3, when="after")
    failed = drive(runtime, "referral", referral, None)
    assert (failed.status, failed.error) == ("FAILED", "Lambda.Unknown")
    described = runtime.sfn.describe_execution(executionArn=failed.execution_arn)
    assert (described["redriveCount"], described["redriveStatus"]) == (0, "REDRIVABLE")
    outbox, credits = runtime.outbox(), get_billing().list_credits("RF-300")
    assert len(credits) == 1
    before = entered(runtime, failed.execution_arn)

    # When the run is redriven (the outage is over)
    redriven_at = runtime.sfn.redrive_execution(executionArn=failed.execution_arn)["redriveDate"]
    runtime.wait(failed.execution_arn)

    # Then the same execution succeeds, re-running only the state that failed
    result = runtime.result(failed.execution_arn)
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "rewarded"
    after = entered(runtime, failed.execution_arn)
    assert after - before == Counter({"LogRewarded": 1})
    # and its timeline shows the failed attempt of the state, then the redriven one
    attempts = [(row.status, row.error) for row in result.timeline if row.state == "LogRewarded"]
    assert attempts == [("FAILED", "Lambda.Unknown"), ("SUCCEEDED", None)]
    described = runtime.sfn.describe_execution(executionArn=failed.execution_arn)
    assert described["redriveCount"] == 1
    assert described["redriveDate"] == redriven_at
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    # and its history goes on after the failure, numbered after it
    events = runtime.history(failed.execution_arn)
    types = [e["type"] for e in events]
    assert types.index("ExecutionFailed") + 1 == types.index("ExecutionRedriven")
    assert types[-1] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    (redriven,) = [e for e in events if e["type"] == "ExecutionRedriven"]
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    # and nothing irreversible happened twice: one email, one credit, one "rewarded" log entry
    assert runtime.outbox() == outbox
    assert get_billing().list_credits("RF-300") == credits
    logged = [a for a in activities("RF-300") if a.kind == "referral_rewarded"]
    assert len(logged) == 1, [a.kind for a in activities("RF-300")]


def test_a_succeeded_run_is_not_redrivable(runtime: LocalRuntime) -> None:
    # Given a run that succeeded
    referral = {**example("referral"), "referrer_contact_id": "RF-300", "reward_cents": 5000}
    done = drive(runtime, "referral", referral, None)
    assert done.status == "SUCCEEDED"

    # When it is redriven, Then Step Functions' error says why, and nothing ran again
    before = entered(runtime, done.execution_arn)
    assert not_redrivable(runtime, done.execution_arn) == "Execution is SUCCEEDED and cannot be redriven."
    assert entered(runtime, done.execution_arn) == before
    assert runtime.sfn.describe_execution(executionArn=done.execution_arn)["redriveCount"] == 0


def test_a_running_run_is_not_redrivable_and_an_unknown_one_does_not_exist(runtime: LocalRuntime) -> None:
    # Given a run waiting for its approval
    arn = runtime.start("sales_outreach", example("sales_outreach"))
    assert runtime.approvals_to_decide(arn)

    # Then it cannot be redriven while it runs
    assert not_redrivable(runtime, arn) == "Execution is RUNNING and cannot be redriven."

    # And an execution that never existed is ExecutionDoesNotExist
    with pytest.raises(ClientError) as raised:
        runtime.sfn.redrive_execution(executionArn=arn.rsplit(":", 1)[0] + ":never-started")
    assert raised.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_a_compensation_cut_short_by_an_outage_is_finished_by_a_redrive_and_bills_nothing_twice(
    runtime: LocalRuntime,
) -> None:
    # Given an onboarding that failed after its letter and retainer, whose compensation then hit an
    # outage voiding the retainer (no Catch on a compensation step: the run FAILED right there)
    intake = example("law_firm_ops")
    runtime.dispatcher.inject("gather_unbilled", "PermanentIntegrationError", times=1)
    runtime.dispatcher.inject("VoidRetainerAfterFailure", "Lambda.Unknown", times=3)
    failed = drive(runtime, "law_firm_ops", intake, approve)
    assert (failed.status, failed.error) == ("FAILED", "Lambda.Unknown")
    letters = [e for e in runtime.outbox() if e["to"] == intake["client_email"]]
    assert len(letters) == 1
    client_id = derived_client_id(intake["client_email"])
    matter_id = matter_id_for(client_id, intake["matter_description"])
    retainer = get_billing().get_invoice(retainer_invoice_id_for(matter_id))
    assert retainer is not None
    assert retainer.status == "open"

    # When it is redriven
    runtime.sfn.redrive_execution(executionArn=failed.execution_arn)
    runtime.wait(failed.execution_arn)

    # Then the compensation finishes where it stopped: this run's retainer is voided (found by the
    # matter, and voided because the same execution issued it), the matter archived, and the run
    # ends at its designed failure with the original error
    result = runtime.result(failed.execution_arn)
    assert (result.status, result.error) == ("FAILED", "PermanentIntegrationError")
    assert entered(runtime, failed.execution_arn)["SetupBilling"] == 1
    voided = get_billing().get_invoice(retainer_invoice_id_for(matter_id))
    assert voided is not None
    assert voided.status == "void"
    assert get_billing().get_invoice(retainer_invoice_id_for(matter_id, 1)) is None
    (deal,) = [d for d in get_crm().list_deals(client_id) if d.deal_id == matter_id]
    assert deal.stage == "archived"
    # and the letter went out once
    assert [e for e in runtime.outbox() if e["to"] == intake["client_email"]] == letters
