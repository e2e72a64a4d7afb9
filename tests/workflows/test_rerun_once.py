"""Once means once across runs: a fresh execution of the same business input repeats nothing.

Each scenario runs a workflow to success, then starts it again with the same input (a new
execution name, as a rerun or a scheduler retry would), and counts what reached the outside world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.law_firm_ops.models import retainer_invoice_id_for
from functions.registry import ROOT
from functions.shared.adapters import get_billing, get_crm
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

    # Then the lead still has exactly one email, and its timeline says so once
    again = [e for e in runtime.outbox() if not e["subject"].startswith("Approval needed")]
    assert again == emails
    contact = get_crm().find_contact_by_email(emails[0]["to"])
    assert contact is not None
    assert [a.kind for a in get_crm().list_activities(contact.contact_id)].count("email_sent") == 1


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


@pytest.mark.slow
def test_a_fresh_run_of_the_same_matter_invoices_the_retainer_once(runtime: LocalRuntime) -> None:
    # Given an intake that was onboarded: one engagement letter, one retainer invoice, an open matter
    intake = example("law_firm_ops")
    first = drive(runtime, "law_firm_ops", intake, approve)
    assert first.status == "SUCCEEDED"
    assert first.output is not None
    client_id, matter_id = first.output["client_id"], first.output["matter_id"]
    letters = [e for e in runtime.outbox() if e["to"] == intake["client_email"]]
    assert len(letters) == 1
    invoice = get_billing().get_invoice(retainer_invoice_id_for(matter_id))
    assert invoice is not None
    assert invoice.status == "open"

    # When the same intake is run again (a fresh execution) and approved again
    second = drive(runtime, "law_firm_ops", intake, approve)

    # Then it is the same matter with the same single retainer, and no second letter went out
    assert second.status == "SUCCEEDED"
    assert second.output is not None
    assert second.output["matter_id"] == matter_id
    assert get_billing().get_invoice(retainer_invoice_id_for(matter_id)) == invoice
    assert get_billing().get_invoice(retainer_invoice_id_for(matter_id, 1)) is None
    assert [e for e in runtime.outbox() if e["to"] == intake["client_email"]] == letters
    assert [d.deal_id for d in get_crm().list_deals(client_id)].count(matter_id) == 1


@pytest.mark.slow
def test_a_failed_rerun_of_an_onboarded_matter_voids_and_archives_nothing_of_the_first(
    runtime: LocalRuntime,
) -> None:
    # Given an onboarded matter
    intake = example("law_firm_ops")
    first = drive(runtime, "law_firm_ops", intake, approve)
    assert first.output is not None
    client_id, matter_id = first.output["client_id"], first.output["matter_id"]

    # When a rerun of it fails after billing, and its compensation chain runs
    runtime.dispatcher.inject("gather_unbilled", "PermanentIntegrationError", times=1)
    second = drive(runtime, "law_firm_ops", intake, approve)
    assert second.status == "FAILED"

    # Then the first run's retainer is still open and its matter still open: the rerun undid only its own
    invoice = get_billing().get_invoice(retainer_invoice_id_for(matter_id))
    assert invoice is not None
    assert invoice.status == "open"
    (deal,) = [d for d in get_crm().list_deals(client_id) if d.deal_id == matter_id]
    assert deal.stage == "open"


@pytest.mark.slow
def test_a_rerun_after_a_failed_onboarding_issues_a_new_retainer_once(runtime: LocalRuntime) -> None:
    # Given an onboarding that failed after billing: its retainer was voided, its matter archived
    intake = example("law_firm_ops")
    runtime.dispatcher.inject("gather_unbilled", "PermanentIntegrationError", times=1)
    failed = drive(runtime, "law_firm_ops", intake, approve)
    assert failed.status == "FAILED"

    # When the intake is run again and succeeds
    second = drive(runtime, "law_firm_ops", intake, approve)
    assert second.status == "SUCCEEDED"
    assert second.output is not None
    matter_id = second.output["matter_id"]

    # Then the voided retainer stays void and exactly one live retainer replaces it
    voided, reissued = (get_billing().get_invoice(retainer_invoice_id_for(matter_id, n)) for n in (0, 1))
    assert voided is not None
    assert voided.status == "void"
    assert reissued is not None
    assert reissued.status == "open"
    assert get_billing().get_invoice(retainer_invoice_id_for(matter_id, 2)) is None
