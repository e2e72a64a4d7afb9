"""What the console page is served with, and the local-only routes it reads (no browser needed)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import pytest

from functions.registry import ROOT, WORKFLOWS
from functions.shared.llm.offline import RateLimited, offline_model
from local.console.assets import host_is_loopback, is_loopback
from tests.console.conftest import Console

EXAMPLE = json.loads((ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8"))
KEY_META = re.compile(r'<meta name="stepwise-api-token" content="(?P<key>[^"]*)">')


def _wait_for_approval(console: Console, execution: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if console.runtime.pending_approvals(execution):
            return
        time.sleep(0.02)
    raise AssertionError(f"{execution} never asked for an approval")


def test_the_page_needs_no_token_and_carries_a_console_token_and_a_strict_policy_for_a_loopback_request(
    console: Console,
) -> None:
    status, headers, page = console.request("GET", "/", headers={"Authorization": "", "Host": "127.0.0.1"})
    assert status == 200
    found = KEY_META.search(page)
    assert found is not None
    # a token the server's authorizer accepts, for its console client
    claims = console.server.authorizer.claims(found["key"], ["stepwise/start"])
    assert claims is not None
    assert claims["client_id"] == "console"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "require-trusted-types-for 'script'" in policy
    assert headers["Cache-Control"] == "no-store"
    # No inline code anywhere: every script is a file, no element carries a style or an on* handler.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/console/console.js" defer>']
    assert not re.search(r"\sstyle=|\son[a-z]+=", page)
    for path, kind in (("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")):
        status, headers, _ = console.request("GET", path, headers={"Authorization": ""})
        assert status == 200
        assert headers["Content-Type"].startswith(kind)


def test_a_page_asked_for_under_another_host_name_gets_no_key(console: Console) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 with its own host name in the Host header.
    port = urlsplit(console.url).port
    status, _, page = console.request("GET", "/", headers={"Host": f"attacker.example:{port}"})
    assert status == 200
    found = KEY_META.search(page)
    assert found is not None
    assert found["key"] == ""


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("localhost", True),
        ("[::1]:8000", True),
        ("LOCALHOST:8000", True),
        ("127.0.0.1.nip.io:8000", False),
        ("localhost.attacker.example", False),
        ("192.168.1.20:8000", False),
        ("", False),
    ],
)
def test_only_loopback_host_names_count_as_local(host: str, trusted: bool) -> None:
    assert host_is_loopback(host) is trusted


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("0.0.0.0", False),  # noqa: S104 - an address to classify, nothing binds it
        ("10.0.0.5", False),
    ],
)
def test_only_a_loopback_bound_server_hands_its_key_to_the_page(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.parametrize(
    "path",
    [
        "/local/workflows",
        "/local/approvals",
        "/local/executions/sales_outreach-x/cost",
        "/local/audit/sales_outreach-x/draft_email",
    ],
)
def test_the_local_data_routes_need_a_token(console: Console, path: str) -> None:
    status, _, body = console.request("GET", path, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}


def test_the_workflow_catalog_prefills_the_form_with_each_example(console: Console) -> None:
    status, _, body = console.request("GET", "/local/workflows")
    assert status == 200
    catalog = {w["name"]: w for w in json.loads(body)["workflows"]}
    assert set(catalog) == set(WORKFLOWS)
    assert catalog["sales_outreach"]["example"] == EXAMPLE
    kinds = {s["state"]: s["kind"] for s in catalog["sales_outreach"]["steps"]}
    assert kinds["RevertStatusAfterRejection"] == "compensation"


@pytest.mark.parametrize(
    "path",
    ["/local/audit/..%2F..%2Fetc/passwd", "/local/audit/sales_outreach-x/..", "/local/executions/a%20b/cost"],
)
def test_audit_routes_refuse_names_outside_the_audit_key_alphabet(console: Console, path: str) -> None:
    status, _, _ = console.request("GET", path)
    assert status == 404


def test_a_retried_llm_step_shows_every_attempt_and_the_cost_counts_the_failed_one(console: Console) -> None:
    # Given Anthropic answers 429 to the first research call, so Step Functions runs the step twice
    offline_model().script("assess_lead", RateLimited(retry_after_s=0))
    status, _, body = console.request("POST", "/workflows/sales_outreach/executions", EXAMPLE)
    assert status == 202
    execution = json.loads(body)["executionId"]
    _wait_for_approval(console, execution)

    # When the console reads the research step's audit records and the run's cost
    status, _, body = console.request("GET", f"/local/audit/{execution}/research_lead")
    records = json.loads(body)["records"]
    cost = json.loads(console.request("GET", f"/local/executions/{execution}/cost")[2])

    # Then both attempts are there, oldest first, with the failed one's error
    assert status == 200
    assert [r["attempt"] for r in records] == [0, 1]
    assert records[0]["error"]["type"] == "LLMRateLimitError"
    assert records[1]["outcome"] == "ok"
    assert "Northwind Freight" in json.dumps(records[1]["exchanges"][0]["messages"])
    # And the cost is every call's cost, per step and attempt, in the run ledger's shape
    by_call = {(s["step"], s["attempt"]): s["usd"] for s in cost["steps"]}
    assert set(by_call) == {("research_lead", 0), ("research_lead", 1), ("draft_email", 0)}
    assert by_call[("research_lead", 1)] == records[1]["cost_usd"]
    assert cost["usd"] == pytest.approx(sum(by_call.values()))
    assert cost["usd"] > 0
    assert cost["source"] == "audit"
    assert cost["inputTokens"] == sum(s["inputTokens"] for s in cost["steps"])


def test_pending_approvals_carry_a_signed_link_that_opens_the_approval_page(console: Console) -> None:
    status, _, body = console.request("POST", "/workflows/sales_outreach/executions", EXAMPLE)
    execution = json.loads(body)["executionId"]
    _wait_for_approval(console, execution)

    _, _, body = console.request("GET", f"/local/approvals?execution={execution}")
    (approval,) = json.loads(body)["approvals"]
    (link,) = approval["links"]
    assert link["approver"] == "sales-lead@acme-demo.com"

    status, _, page = console.request("GET", link["url"], headers={"Authorization": ""})
    assert status == 200
    assert approval["subject"] in page
    forged = re.sub(r"sig=.", "sig=A" if "sig=A" not in link["url"] else "sig=B", link["url"])
    assert console.request("GET", forged, headers={"Authorization": ""})[0] == 403
