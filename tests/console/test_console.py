"""The local console in a real headless Chromium: what an operator does with a run, end to end."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from functions.api.executions import ExecutionService
from functions.registry import ROOT, WORKFLOWS
from functions.shared.aws import client
from functions.shared.config import settings
from tests.console.conftest import Console, screenshot

EXAMPLE: dict[str, Any] = json.loads((ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8"))
EXECUTION_HASH = re.compile(r"#/executions/(?P<id>sales_outreach-[0-9a-f]+)$")


def _audit_total_usd(execution: str) -> float:
    """What the run's LLM calls cost, read from the audit bucket independently of the console code."""
    s3 = client("s3")
    listed = s3.list_objects_v2(Bucket=settings().audit_bucket, Prefix=f"audit/{execution}/")
    return sum(
        float(
            json.loads(s3.get_object(Bucket=settings().audit_bucket, Key=item["Key"])["Body"].read())[
                "cost_usd"
            ]
        )
        for item in listed.get("Contents", [])
    )


#: How Chromium reports a blocked inline script/style, eval, or markup from a string (Trusted Types).
_POLICY_MESSAGES = ("Content Security Policy", "Refused to", "requires 'Trusted")


def _csp_violations(console: Console) -> list[str]:
    return [m for m in console.browser_messages if any(marker in m for marker in _POLICY_MESSAGES)]


def _start_from_the_form(page: Page, console: Console) -> str:
    page.goto(console.url + "/")
    page.get_by_role("link", name="Start a workflow").click()
    page.select_option("#start-workflow", "sales_outreach")
    expect(page.locator("#start-input")).to_have_value(re.compile(r'"lead_id": "L-100"'))
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(EXECUTION_HASH)
    found = EXECUTION_HASH.search(page.url)
    assert found is not None
    return found["id"]


def test_an_operator_starts_a_run_follows_it_to_its_approval_and_reads_the_llm_exchange(
    page: Page, console: Console
) -> None:
    # Given the console of a fresh local server
    # When the operator starts the sales-outreach example from the form
    execution = _start_from_the_form(page, console)

    # Then the timeline shows the run waiting at the approval, with a signed link to decide
    timeline = page.locator("#timeline tbody")
    expect(timeline.locator('tr[data-state="RequestApproval"] .status')).to_have_text("WAITING")
    for state in ("ValidateLead", "ResearchLead", "IsGoodFit", "DraftEmail", "MarkContacted"):
        expect(timeline.locator(f'tr[data-state="{state}"] .status')).to_have_text("SUCCEEDED")
    link = page.locator("#approvals-panel .approval-link")
    expect(link).to_have_text("open as sales-lead@acme-demo.com")
    pending = console.runtime.pending_approvals(execution)
    assert len(pending) == 1
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/approvals/{pending[0].approval_id}?sig=")

    # And the cost comes from the run ledger (GET /executions/{id}), equal to the run's audit objects
    expected_usd = _audit_total_usd(execution)
    assert expected_usd > 0
    expect(page.locator("#cost-panel .cost-usd")).to_have_text(f"${expected_usd:.6f}")
    expect(page.locator("#cost-panel .cost-source")).to_contain_text("run ledger")
    expect(page.locator("#cost-panel .cost-steps tbody tr")).to_have_count(2)

    # When the operator opens the draft step's LLM call
    timeline.locator('tr[data-state="DraftEmail"] .llm-button').click()

    # Then the prompt and the model's response are shown, and the response is the draft awaiting approval
    panel = page.locator("#llm-panel")
    expect(panel.locator(".llm-step")).to_have_text("draft_email")
    expect(panel.locator(".llm-prompt").first).to_contain_text("Write the first outreach email.")
    expect(panel.locator(".llm-prompt").first).to_contain_text("Northwind Freight")
    expect(panel.locator(".llm-response").first).to_contain_text(pending[0].draft.subject)
    expect(panel.locator(".llm-system")).to_contain_text("You write first-touch B2B sales emails")
    expect(panel.locator(".llm-tool").first).to_have_text("draft_email")
    screenshot(page, "01-run-waiting-for-approval-with-llm-call")

    # And the run is listed as RUNNING, and not under SUCCEEDED yet
    page.goto(console.url + "/#/?workflow=sales_outreach&status=RUNNING")
    expect(page.locator(f'#executions tr[data-execution-id="{execution}"] .status')).to_have_text("RUNNING")
    expect(page.locator(f'#pending-panel li[data-approval-id="{pending[0].approval_id}"]')).to_be_visible()
    page.select_option("#filter-status", "SUCCEEDED")
    expect(page.locator("#executions tbody tr")).to_have_count(0)
    expect(page.locator("#executions + .empty")).to_be_visible()

    # When the approver follows the signed link and approves
    page.goto(console.url + href)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#result")).to_contain_text("Recorded: approved")

    # Then the console shows the run succeeded: email sent, approval recorded, nothing pending
    page.goto(f"{console.url}/#/executions/{execution}")
    expect(page.locator(".summary .status")).to_have_text("SUCCEEDED", timeout=30_000)
    expect(timeline.locator('tr[data-state="SendEmail"] .status')).to_have_text("SUCCEEDED")
    expect(page.locator(".approvals-table tbody tr .status")).to_have_text("APPROVED")
    expect(page.locator("#approvals-panel .approval-link")).to_have_count(0)
    expect(page.locator(".run-output")).to_contain_text('"status": "sent"')
    page.goto(console.url + "/#/?workflow=sales_outreach&status=SUCCEEDED")
    expect(page.locator(f'#executions tr[data-execution-id="{execution}"]')).to_be_visible()
    screenshot(page, "02-executions-list-succeeded")
    assert _csp_violations(console) == []


def test_a_refused_input_shows_every_field_error_inline_and_starts_nothing(
    page: Page, console: Console
) -> None:
    # Given the start form prefilled with the example
    page.goto(console.url + "/#/start?workflow=sales_outreach")
    expect(page.locator("#start-input")).to_have_value(re.compile("L-100"))

    # When the operator breaks two fields and submits
    broken = {**EXAMPLE, "approver_email": "not-an-email", "lead_id": ""}
    page.fill("#start-input", json.dumps(broken, indent=2))
    page.get_by_role("button", name="Start").click()

    # Then the API's 400 is shown field by field next to the form, and no run exists
    errors = page.locator("#start-errors")
    expect(errors).to_be_visible()
    expect(errors.locator(".form-errors-title")).to_have_text("The API refused this input (400):")
    expect(errors.locator(".field-error")).to_have_count(2)
    expect(errors.locator('.field-error[data-field="approver_email"]')).to_be_visible()
    expect(errors.locator('.field-error[data-field="lead_id"]')).to_be_visible()
    assert re.search(r"#/start", page.url)
    screenshot(page, "03-start-form-field-errors")
    machine = console.runtime.state_machines["sales_outreach"]
    assert console.runtime.sfn.list_executions(stateMachineArn=machine)["executions"] == []

    # When the text is not JSON at all, the API's own message is shown the same way
    page.fill("#start-input", '{"lead_id": ')
    page.get_by_role("button", name="Start").click()
    expect(errors.locator('.field-error[data-field="(body)"]')).to_contain_text("invalid JSON")
    assert _csp_violations(console) == []


def test_a_failed_run_shows_retries_errors_and_highlighted_compensation_steps(
    page: Page, console: Console
) -> None:
    # Given a run whose CRM update fails twice (then works) and whose email send fails for good
    console.runtime.dispatcher.inject("mark_contacted", "TransientIntegrationError", times=2)
    console.runtime.dispatcher.inject("send_email", "PermanentIntegrationError")
    status, _, body = console.request("POST", "/workflows/sales_outreach/executions", EXAMPLE)
    assert status == 202
    execution = json.loads(body)["executionId"]
    arn = json.loads(body)["executionArn"]
    console.runtime.wait(arn, until="approval")
    console.runtime.decide(console.runtime.pending_approvals(execution)[0], _approve())
    assert console.runtime.wait(arn)["status"] == "FAILED"

    # When the operator opens the run
    page.goto(f"{console.url}/#/executions/{execution}")

    # Then the retried step shows its attempts, the failing step its error and cause,
    # and the compensation that undid the CRM update stands out from the other steps
    rows = page.locator("#timeline tbody")
    expect(page.locator(".summary .status")).to_have_text("FAILED")
    expect(page.locator(".run-error .error-name")).to_have_text("PermanentIntegrationError")
    marked = rows.locator('tr[data-state="MarkContacted"]')
    expect(marked.locator(".attempts")).to_have_text("3")
    expect(marked.locator(".retries")).to_have_text("2")
    expect(marked.locator(".error-cell")).to_contain_text("TransientIntegrationError")
    expect(marked.locator(".recovered")).to_have_text("recovered on retry")
    send = rows.locator('tr[data-state="SendEmail"]')
    expect(send.locator(".status")).to_have_text("CAUGHT")
    expect(send.locator(".error-cell code")).to_have_text("PermanentIntegrationError")
    expect(send.locator(".error-cell .cause")).to_contain_text("injected fault")
    expect(send.locator(".recovered")).to_have_count(0)
    compensation = rows.locator('tr[data-state="RevertStatusAfterFailure"]')
    expect(compensation).to_have_class(re.compile(r"\bcompensation\b"))
    expect(compensation.locator(".kind")).to_have_text("compensation")
    background = compensation.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    plain = marked.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert background != plain
    compensations = {state for state, step in _state_kinds().items() if step == "compensation"}
    highlighted = set(rows.locator("tr.compensation").evaluate_all("rows => rows.map(r => r.dataset.state)"))
    entered = set(rows.locator("tr").evaluate_all("rows => rows.map(r => r.dataset.state)"))
    assert highlighted == compensations & entered
    assert highlighted, "the failed run must have entered a compensation state"
    screenshot(page, "04-failed-run-retries-and-compensation")
    assert _csp_violations(console) == []


def test_a_server_that_does_not_hand_out_a_token_makes_the_page_ask_for_one(
    page: Page, console: Console
) -> None:
    # Given a server that keeps tokens out of the page (as when it listens beyond loopback)
    console.server.console_gets_key = False

    # When the page opens, it asks for a token instead of calling the API
    page.goto(console.url + "/")
    expect(page.locator("#key-prompt")).to_be_visible()
    assert page.locator('meta[name="stepwise-api-token"]').get_attribute("content") == ""

    # And with a wrong token the authorizer's 401 keeps the prompt up
    page.fill("#key-input", "wrong-token")
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#key-prompt .message")).to_contain_text("401")

    # When the operator pastes a minted token (python -m local token --client console), the list loads
    page.fill("#key-input", console.server.issuer.mint("console"))
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#key-prompt")).to_be_hidden()
    expect(page.locator("#filter-workflow option")).to_have_count(len(WORKFLOWS) + 1)


def _approve() -> Any:
    from functions.shared.approvals import Decision

    return Decision(decision="approve")


def _state_kinds() -> dict[str, str]:
    from functions.shared import asl

    return {state: step.kind.value for state, step in asl.state_steps(WORKFLOWS["sales_outreach"]).items()}


def test_the_run_ledgers_cost_is_shown_when_the_api_carries_it(
    page: Page, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the API's execution answer carries the run ledger's `cost` field (issue #7, part A)
    ledger = {
        "inputTokens": 1000,
        "outputTokens": 200,
        "cacheReadTokens": 3000,
        "cacheWriteTokens": 0,
        "usd": 0.4242,
        "steps": [
            {
                "step": "research_lead",
                "attempt": 0,
                "model": "claude-sonnet-4-6",
                "inputTokens": 1000,
                "outputTokens": 200,
                "cacheReadTokens": 3000,
                "cacheWriteTokens": 0,
                "usd": 0.4242,
            }
        ],
    }
    original = ExecutionService.get

    def with_ledger(self: ExecutionService, execution_id: str) -> dict[str, Any]:
        return {**original(self, execution_id), "cost": ledger}

    monkeypatch.setattr(ExecutionService, "get", with_ledger)
    status, _, body = console.request("POST", "/workflows/sales_outreach/executions", EXAMPLE)
    assert status == 202

    # When the operator opens the run
    page.goto(f"{console.url}/#/executions/{json.loads(body)['executionId']}")

    # Then the ledger's figures are shown, and the page says they come from the ledger
    expect(page.locator("#cost-panel .cost-usd")).to_have_text("$0.424200")
    expect(page.locator("#cost-panel .cost-source")).to_contain_text("run ledger")
    expect(page.locator("#cost-panel .cost-tokens")).to_contain_text("3000 cache-read")
    expect(page.locator("#cost-panel .cost-steps tbody tr")).to_have_count(1)


def test_the_browser_enforces_the_pages_policy_so_api_text_can_never_become_markup(
    page: Page, console: Console
) -> None:
    # Given the console loaded and working
    page.goto(console.url + "/")
    expect(page.locator("#filter-workflow option")).to_have_count(len(WORKFLOWS) + 1)

    # Then Chromium refuses HTML strings as markup (Trusted Types) and script URLs from strings,
    # so a model-written draft shown by the console can only ever be text
    refused = page.evaluate(
        """() => {
          const attempts = {
            innerHTML: () => { document.body.insertAdjacentHTML("beforeend", "<b>x</b>"); },
            scriptSrc: () => { document.createElement("script").src = "/console/console.js"; },
          };
          return Object.fromEntries(Object.entries(attempts).map(([name, attempt]) => {
            try { attempt(); return [name, "allowed"]; } catch (error) { return [name, error.name]; }
          }));
        }"""
    )
    assert refused == {"innerHTML": "TypeError", "scriptSrc": "TypeError"}
    # And such refusals are what the other scenarios check never happens while they use the console
    assert len(_csp_violations(console)) == 2


def test_an_operator_redrives_a_failed_run_from_its_page_and_it_succeeds(
    page: Page, console: Console
) -> None:
    # Given a referral that failed at its last step (after its email and credit went out)
    referral = json.loads((ROOT / "examples" / "referral.json").read_text(encoding="utf-8"))
    console.runtime.dispatcher.inject("LogRewarded", "Lambda.Unknown", times=3)
    status, _, body = console.request(
        "POST",
        "/workflows/referral/executions",
        {**referral, "referrer_contact_id": "RF-300", "reward_cents": 5000},
    )
    assert status == 202
    execution, arn = json.loads(body)["executionId"], json.loads(body)["executionArn"]
    assert console.runtime.wait(arn)["status"] == "FAILED"
    emails = console.runtime.outbox()

    # When the operator opens it and presses Redrive
    page.goto(f"{console.url}/#/executions/{execution}")
    expect(page.locator(".summary .status")).to_have_text("FAILED")
    page.locator(".redrive-button").click()

    # Then the page follows the same run to SUCCEEDED, the button is gone, and nothing was sent twice
    expect(page.locator(".summary .status")).to_have_text("SUCCEEDED")
    expect(page.locator(".redrive")).to_be_hidden()
    expect(page.locator('#timeline tbody tr[data-state="LogRewarded"]')).to_have_count(2)
    assert console.runtime.outbox() == emails
    screenshot(page, "07-redriven-run")
    assert _csp_violations(console) == []


def test_a_run_that_succeeded_offers_no_redrive(page: Page, console: Console) -> None:
    # Given a run that ended as designed (a poor-fit lead, disqualified)
    status, _, body = console.request(
        "POST", "/workflows/sales_outreach/executions", {**EXAMPLE, "lead_id": "L-300"}
    )
    assert status == 202
    assert console.runtime.wait(json.loads(body)["executionArn"])["status"] == "SUCCEEDED"

    # When the operator opens it, Then there is no Redrive button
    page.goto(f"{console.url}/#/executions/{json.loads(body)['executionId']}")
    expect(page.locator(".summary .status")).to_have_text("SUCCEEDED")
    expect(page.locator(".redrive")).to_be_hidden()
