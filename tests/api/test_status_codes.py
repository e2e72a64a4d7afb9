"""Every status code of the HTTP API contract (design.md "HTTP API"), one scenario each, over HTTP."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.shared.adapters import get_files
from functions.shared.approvals import ApprovalRecord, sign
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.offline import Reply, offline_model
from tests.api.conftest import Api

LEAD_EMAIL = "dana.whitfield@northwind-freight.example"
START = "/workflows/sales_outreach/executions"


@pytest.fixture(autouse=True)
def _stop_parked_runs(api: Api) -> Iterator[None]:
    """Runs a test leaves waiting for a person are stopped, so no callback task outlives its test."""
    yield
    sfn = api.runtime.sfn
    for arn in api.runtime.state_machines.values():
        for item in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            with contextlib.suppress(Exception):  # best effort: moto cannot stop a run still starting
                sfn.stop_execution(executionArn=item["executionArn"], error="TestOver")


def _waiting_run(api: Api, payload: dict[str, Any]) -> tuple[str, ApprovalRecord, str]:
    """A run started over HTTP and parked at its approval: (execution id, record, approver's sig)."""
    started = api.start(payload)
    assert started.status == 202, started.text
    execution_id: str = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    return execution_id, record, api.runtime.signed_link_signature(record)


def _status_of(api: Api, approval_id: str) -> str:
    record = api.runtime.approvals().store.get(approval_id)
    assert record is not None
    return record.status


def _decide(api: Api, approval_id: str, body: Any) -> Any:
    return api.request("POST", f"/approvals/{approval_id}/decision", body, client=None)


def _emails_to(api: Api, to: str) -> list[dict[str, Any]]:
    emails: list[dict[str, Any]] = api.request("GET", "/local/outbox").json()
    return [e for e in emails if e["to"] == to]


def _set_expiry(approval_id: str, expires_at: str) -> None:
    client("dynamodb").update_item(
        TableName=settings().approvals_table,
        Key={"approval_id": {"S": approval_id}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"S": expires_at}},
    )


# --- POST /workflows/{workflow}/executions ------------------------------------------------------
def test_valid_start_is_accepted_with_the_run_id_its_arn_and_where_to_follow_it(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a valid outreach request
    # When a client starts a run
    started = api.start(outreach)

    # Then it is accepted (202) with the id, the ARN and the status URL, also in Location
    assert started.status == 202
    body = started.json()
    assert set(body) == {"executionId", "executionArn", "statusUrl"}
    assert body["executionId"].startswith("sales_outreach-")
    assert body["executionArn"].endswith(f":execution:stepwise-sales_outreach:{body['executionId']}")
    assert body["statusUrl"] == f"/executions/{body['executionId']}"
    assert started.headers["Location"] == body["statusUrl"]
    # and the status URL really answers for that run
    assert api.request("GET", body["statusUrl"]).json()["executionId"] == body["executionId"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"lead_id": "L 100; drop"}, "lead_id", id="bad-lead_id"),
        pytest.param({"approver_email": "not-an-email"}, "approver_email", id="bad-approver_email"),
        pytest.param({"offer": None}, "offer", id="missing-offer"),
        pytest.param({"discount": "50%"}, "discount", id="extra-field"),
    ],
)
def test_invalid_input_is_refused_naming_the_bad_field_and_starts_nothing(
    api: Api, outreach: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    # Given an outreach request with one bad field (None means: the field is left out)
    payload = {k: v for k, v in {**outreach, **change}.items() if v is not None}

    # When a client starts a run with it
    reply = api.start(payload)

    # Then it is refused (400) with exactly that field named, and no run exists
    assert reply.status == 400
    errors = reply.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert all(e["message"] for e in errors)
    assert api.request("GET", "/executions?workflow=sales_outreach").json() == {"executions": []}


def test_invalid_input_is_explained_in_words_without_regexes_or_class_names(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a wrong approver address, and then a JSON array instead of an object
    wrong_email = api.start({**outreach, "approver_email": "dana-at-example"})
    array = api.request("POST", START, json.dumps([outreach]), headers={"content-type": "application/json"})

    # Then both are refused (400) in words a caller reads
    assert wrong_email.status == array.status == 400
    assert wrong_email.json()["errors"] == [
        {"field": "approver_email", "message": "not a valid email address"}
    ]
    assert array.json()["errors"] == [{"field": "(body)", "message": "must be a JSON object"}]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('[{"lead_id": "L-100"}]', id="json-list"),
        pytest.param("", id="empty-body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_as_a_body_error(api: Api, raw: str) -> None:
    # Given a body that is not a JSON object
    # When a client posts it as a run's input
    reply = api.request("POST", START, raw, headers={"content-type": "application/json"})

    # Then it is refused (400) on the body itself
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == ["(body)"]


def test_starting_an_unknown_workflow_is_not_found(api: Api, outreach: dict[str, Any]) -> None:
    # Given a workflow name nobody deployed
    # When a client starts a run of it
    reply = api.request("POST", "/workflows/world_domination/executions", outreach)

    # Then it is not found (404)
    assert reply.status == 404
    assert "world_domination" in reply.json()["message"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["no-token", "garbage-token"])
def test_starting_without_a_valid_token_is_unauthorized_and_starts_nothing(
    api: Api, outreach: dict[str, Any], authorization: str | None
) -> None:
    # Given a client without an access token (or with something that is not one)
    headers = {"Authorization": authorization} if authorization else None
    # When it starts a run
    reply = api.request("POST", START, outreach, client=None, headers=headers)

    # Then API Gateway's authorizer answers 401 Unauthorized and no run exists
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert api.request("GET", "/executions?workflow=sales_outreach").json() == {"executions": []}


def test_a_retried_start_with_the_same_idempotency_key_returns_the_same_run(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run started with an Idempotency-Key
    first = api.start(outreach, **{"Idempotency-Key": "order-42-attempt"})
    assert first.status == 202

    # When the client retries the same request (same key, same body)
    again = api.start(outreach, **{"Idempotency-Key": "order-42-attempt"})

    # Then it gets 202 with the same execution, and only one run exists
    assert again.status == 202
    assert again.json() == first.json()
    runs = api.request("GET", "/executions?workflow=sales_outreach").json()["executions"]
    assert [r["executionId"] for r in runs] == [first.json()["executionId"]]


def test_reusing_an_idempotency_key_with_another_body_is_a_conflict(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run started with an Idempotency-Key
    first = api.start(outreach, **{"Idempotency-Key": "order-43"})
    assert first.status == 202

    # When the same key comes with a different body
    other = api.start({**outreach, "lead_id": "L-200"}, **{"Idempotency-Key": "order-43"})

    # Then it is a conflict (409) and still only the first run exists
    assert other.status == 409
    assert "Idempotency-Key" in other.json()["message"]
    runs = api.request("GET", "/executions?workflow=sales_outreach").json()["executions"]
    assert [r["executionId"] for r in runs] == [first.json()["executionId"]]


@pytest.mark.parametrize(
    "key", ["has space", "k" * 300, "caf\u00e9"], ids=["space", "300-chars", "non-ascii"]
)
def test_an_invalid_idempotency_key_is_refused_naming_the_header(
    api: Api, outreach: dict[str, Any], key: str
) -> None:
    # Given an otherwise valid request with an unusable Idempotency-Key
    # When a client starts a run with it
    reply = api.start(outreach, **{"Idempotency-Key": key})

    # Then it is refused (400) on the header, and no run exists
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == ["Idempotency-Key"]
    assert api.request("GET", "/executions?workflow=sales_outreach").json() == {"executions": []}


# --- GET /executions/{executionId} --------------------------------------------------------------
def test_a_waiting_run_shows_its_input_timeline_and_pending_approval_without_any_secret(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run waiting for its approver
    execution_id, record, sig = _waiting_run(api, outreach)

    # When a client reads it
    reply = api.request("GET", f"/executions/{execution_id}")

    # Then it sees status, input and a timeline of steps with their attempts
    assert reply.status == 200
    run = reply.json()
    assert run["status"] == "RUNNING"
    assert run["input"] == outreach
    assert all({"state", "status", "attempts"} <= set(row) for row in run["timeline"])
    assert {"state": "RequestApproval", "status": "WAITING"} in [
        {"state": r["state"], "status": r["status"]} for r in run["timeline"]
    ]
    assert next(r for r in run["timeline"] if r["state"] == "ValidateLead")["attempts"] == 1
    # and the pending approval with its approver, but no link, signature or token of any kind
    (approval,) = run["approvals"]
    assert approval["approval_id"] == record.approval_id
    assert approval["approver"] == outreach["approver_email"]
    assert approval["status"] == "PENDING"
    assert not [k for k in approval if any(s in k.lower() for s in ("link", "sig", "token", "sealed"))]
    assert sig not in reply.text
    assert record.sealed_token not in reply.text


@pytest.mark.parametrize(
    "execution_id",
    [
        "sales_outreach-0123456789abcdef0123456789abcdef",
        "world_domination-0123456789abcdef",
        "sales_outreach",
        "sales_outreach-a:b:c",
        "..",
        "sales_outreach-" + "x" * 300,
    ],
    ids=["unknown-id", "unknown-workflow-prefix", "no-suffix", "colons", "dots", "too-long"],
)
def test_reading_a_run_that_does_not_exist_is_not_found(api: Api, execution_id: str) -> None:
    # Given an id no run has
    # When a client reads it
    reply = api.request("GET", f"/executions/{execution_id}")

    # Then it is not found (404)
    assert reply.status == 404
    assert "not found" in reply.json()["message"]


def test_reading_a_run_without_a_token_is_unauthorized(api: Api, outreach: dict[str, Any]) -> None:
    # Given an existing run
    execution_id = api.start(outreach).json()["executionId"]

    # When a client reads it without a token
    reply = api.request("GET", f"/executions/{execution_id}", client=None)

    # Then it is unauthorized (401) and shows nothing of the run
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}


# --- GET /executions ---------------------------------------------------------------------------
def test_searching_by_workflow_status_and_business_key_returns_only_the_matching_runs(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run for L-100 that finished (approved) and a run for L-200 still waiting
    done, record, sig = _waiting_run(api, outreach)
    waiting, _, _ = _waiting_run(api, {**outreach, "lead_id": "L-200"})
    assert _decide(api, record.approval_id, {"decision": "approve", "sig": sig}).status == 200
    assert api.wait_for_end(done)["status"] == "SUCCEEDED"

    def ids(query: str) -> list[str]:
        reply = api.request("GET", f"/executions?{query}")
        assert reply.status == 200, reply.text
        return [r["executionId"] for r in reply.json()["executions"]]

    # When a client searches, Then each filter returns exactly the matching runs
    assert sorted(ids("workflow=sales_outreach")) == sorted([done, waiting])
    assert ids("status=RUNNING") == [waiting]
    assert ids("workflow=sales_outreach&status=SUCCEEDED") == [done]
    assert ids("businessKey=L-200") == [waiting]
    assert ids("businessKey=L-100&status=SUCCEEDED") == [done]
    assert ids("businessKey=L-999") == []
    # and the business key is echoed on the rows it matched
    rows = api.request("GET", "/executions?businessKey=L-100").json()["executions"]
    assert [r["businessKey"] for r in rows] == ["L-100"]
    # and the limit applies to the matches, not to the runs scanned (the newest run is L-200's)
    assert ids("businessKey=L-100&limit=1") == [done]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=DONE", "status"),
        ("status=running", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=101", "limit"),
    ],
)
def test_a_search_with_an_invalid_filter_is_refused_naming_it(api: Api, query: str, field: str) -> None:
    # Given a search filter outside the contract
    # When a client searches with it
    reply = api.request("GET", f"/executions?{query}")

    # Then it is refused (400) naming the filter
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == [field]


def test_a_search_limited_to_the_maximum_is_accepted(api: Api) -> None:
    # Given the largest allowed limit
    # When a client searches with it
    reply = api.request("GET", "/executions?limit=100")

    # Then it is accepted (the bound is inclusive)
    assert reply.status == 200
    assert reply.json() == {"executions": []}


def test_searching_an_unknown_workflow_is_not_found(api: Api) -> None:
    # Given a workflow name nobody deployed
    # When a client searches its runs
    reply = api.request("GET", "/executions?workflow=world_domination")

    # Then it is not found (404)
    assert reply.status == 404


def test_searching_without_a_token_is_unauthorized(api: Api) -> None:
    # When a client searches without a token, Then it is unauthorized (401)
    reply = api.request("GET", "/executions?workflow=sales_outreach", client=None)
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}


# --- GET /approvals/{approvalId}?sig= ------------------------------------------------------------
def test_the_approval_page_shows_the_draft_and_action_safely_and_decides_nothing(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run waiting for approval and the approver's emailed link
    execution_id, record, _ = _waiting_run(api, outreach)
    ((approval_id, sig),) = api.links(to=outreach["approver_email"])
    assert approval_id == record.approval_id

    # When the link is opened twice (a mail scanner prefetches it, then the person opens it)
    pages = [api.request("GET", f"/approvals/{approval_id}?sig={sig}", client=None) for _ in range(2)]

    # Then both answer a 200 HTML page with the draft's subject and the action, hardened
    for page in pages:
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert html.escape(record.draft.subject) in page.text
        assert html.escape(record.action) in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Frame-Options"] == "DENY"
    # and nothing was decided: the approval is pending and the run still waits
    assert _status_of(api, approval_id) == "PENDING"
    assert api.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"


def test_the_approval_page_escapes_model_written_html(api: Api, outreach: dict[str, Any]) -> None:
    # Given a draft whose subject and body contain markup (the model wrote it)
    offline_model().script(
        "draft_email",
        Reply(
            {
                "subject": "<b>hi</b>",
                "body": (
                    "Hello <script>alert(1)</script> there, a long enough body for validation to pass easily."
                ),
            }
        ),
    )
    _, record, sig = _waiting_run(api, outreach)
    assert record.draft.subject == "<b>hi</b>"  # the scripted draft was used

    # When the approver opens the page
    page = api.request("GET", f"/approvals/{record.approval_id}?sig={sig}", client=None)

    # Then the markup is shown as text, never as markup
    assert page.status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in page.text
    assert "<b>hi</b>" not in page.text


def _intruder_sig(record: ApprovalRecord) -> str:
    secret = settings().approval_signing_secret
    assert secret is not None
    return sign(record.approval_id, "intruder@evil.example", record.expires_at, secret)


@pytest.mark.parametrize("how", ["tampered", "missing", "other-approver"])
def test_the_approval_page_with_an_invalid_signature_is_forbidden(
    api: Api, outreach: dict[str, Any], how: str
) -> None:
    # Given a waiting approval and a link whose signature is not the approver's
    _, record, sig = _waiting_run(api, outreach)
    query = {
        "tampered": "?sig=" + ("A" if sig[0] != "A" else "B") + sig[1:],
        "missing": "",
        "other-approver": "?sig=" + _intruder_sig(record),
    }[how]

    # When the page is opened with it
    page = api.request("GET", f"/approvals/{record.approval_id}{query}", client=None)

    # Then it is forbidden (403), shows no draft and changes nothing
    assert page.status == 403
    assert record.draft.subject not in page.text
    assert _status_of(api, record.approval_id) == "PENDING"


def test_the_approval_page_after_expiry_is_forbidden(api: Api, outreach: dict[str, Any]) -> None:
    # Given an approval whose expiry has passed, and a link signed for exactly that expiry
    _, record, _ = _waiting_run(api, outreach)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    _set_expiry(record.approval_id, past)
    sig = api.runtime.signed_link_signature(record.model_copy(update={"expires_at": past}))

    # When the approver opens it
    page = api.request("GET", f"/approvals/{record.approval_id}?sig={sig}", client=None)

    # Then it is forbidden (403) because it expired (only the expiry is wrong)
    assert page.status == 403
    assert "expired" in page.json()["message"]


def test_an_unknown_approval_page_is_not_found(api: Api) -> None:
    # When a link to an approval that does not exist is opened, Then it is not found (404)
    page = api.request("GET", "/approvals/no-such-approval?sig=abc", client=None)
    assert page.status == 404


# --- POST /approvals/{approvalId}/decision ------------------------------------------------------
def test_approve_records_the_approver_and_the_run_sends_the_email(api: Api, outreach: dict[str, Any]) -> None:
    # Given a run waiting for approval
    execution_id, record, sig = _waiting_run(api, outreach)

    # When the approver approves
    reply = _decide(api, record.approval_id, {"decision": "approve", "sig": sig, "comment": "ship it"})

    # Then the decision is recorded (200) as made by the approver, unedited
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"approvalId", "status", "decidedBy", "decidedAt", "edited"}
    assert body["approvalId"] == record.approval_id
    assert body["status"] == "APPROVED"
    assert body["decidedBy"] == outreach["approver_email"]
    assert body["decidedAt"]
    assert body["edited"] is False
    # and the run ends by sending the email to the lead
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["status"] == "sent"
    assert len(_emails_to(api, LEAD_EMAIL)) == 1


def test_approve_with_edits_sends_the_edited_text_to_the_lead(api: Api, outreach: dict[str, Any]) -> None:
    # Given a run waiting for approval
    execution_id, record, sig = _waiting_run(api, outreach)
    edited = "Hi Dana,\n\nThis is the text the approver rewrote by hand, word for word.\n\nSam"

    # When the approver approves with an edited body
    reply = _decide(api, record.approval_id, {"decision": "approve", "sig": sig, "edits": {"body": edited}})

    # Then the decision says it was edited
    assert reply.status == 200
    assert reply.json()["status"] == "APPROVED"
    assert reply.json()["edited"] is True
    # and the lead receives the edited text, not the draft
    run = api.wait_for_end(execution_id)
    assert run["output"]["status"] == "sent"
    (sent,) = _emails_to(api, LEAD_EMAIL)
    assert edited in sent["body"]
    assert run["approvals"][0]["edited"] is True


def test_reject_ends_the_run_as_rejected_and_sends_nothing_to_the_lead(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a run waiting for approval
    execution_id, record, sig = _waiting_run(api, outreach)

    # When the approver rejects
    reply = _decide(api, record.approval_id, {"decision": "reject", "sig": sig, "comment": "wrong tone"})

    # Then the decision is recorded and the run ends as designed with status "rejected"
    assert reply.status == 200
    assert reply.json()["status"] == "REJECTED"
    run = api.wait_for_end(execution_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["status"] == "rejected"
    assert _emails_to(api, LEAD_EMAIL) == []


def test_a_replayed_decision_is_a_conflict_and_changes_nothing(api: Api, outreach: dict[str, Any]) -> None:
    # Given an approval already approved
    execution_id, record, sig = _waiting_run(api, outreach)
    assert _decide(api, record.approval_id, {"decision": "approve", "sig": sig}).status == 200
    api.wait_for_end(execution_id)

    # When the same link posts a decision again (a double click, a replay)
    replay = _decide(api, record.approval_id, {"decision": "reject", "sig": sig})

    # Then it is a conflict (409): the approval stays approved and one email was sent
    assert replay.status == 409
    assert _status_of(api, record.approval_id) == "APPROVED"
    assert len(_emails_to(api, LEAD_EMAIL)) == 1


def test_a_decision_with_a_bad_signature_is_forbidden_and_changes_nothing(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a waiting approval
    execution_id, record, _ = _waiting_run(api, outreach)

    # When someone posts a decision with a signature made for another person
    reply = _decide(api, record.approval_id, {"decision": "approve", "sig": _intruder_sig(record)})

    # Then it is forbidden (403) and the run still waits
    assert reply.status == 403
    assert _status_of(api, record.approval_id) == "PENDING"
    assert api.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"


def test_a_decision_on_an_unknown_approval_is_not_found(api: Api) -> None:
    # When a decision is posted for an approval that does not exist, Then it is not found (404)
    reply = _decide(api, "no-such-approval", {"decision": "approve", "sig": "abc"})
    assert reply.status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"decision": "maybe"}, "decision", id="bad-decision"),
        pytest.param({"decision": "approve", "sig": None}, "sig", id="missing-sig"),
        pytest.param({"decision": "approve", "approver": "me@x.example"}, "approver", id="extra-field"),
        pytest.param(
            {"decision": "reject", "edits": {"body": "softer text please"}}, "edits", id="edits-on-reject"
        ),
        pytest.param(
            {"decision": "approve", "edits": {"subject": "Hi\nBcc: all@corp.example"}},
            "edits.subject",
            id="newline-in-subject",
        ),
    ],
)
def test_a_malformed_decision_is_refused_naming_the_field_and_changes_nothing(
    api: Api, outreach: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    # Given a waiting approval and its valid signature
    execution_id, record, sig = _waiting_run(api, outreach)
    decision = {k: v for k, v in {"sig": sig, **body}.items() if v is not None}

    # When a malformed decision is posted with it
    reply = _decide(api, record.approval_id, decision)

    # Then it is refused (400) naming the field, and the approval is still pending
    assert reply.status == 400
    assert [e["field"] for e in reply.json()["errors"]] == [field]
    assert _status_of(api, record.approval_id) == "PENDING"
    assert api.request("GET", f"/executions/{execution_id}").json()["status"] == "RUNNING"


def test_approving_with_edits_identical_to_the_draft_reports_the_same_edited_flag_everywhere(
    api: Api, outreach: dict[str, Any]
) -> None:
    # Given a waiting approval, and its draft body exactly as the page shows it
    execution_id, record, sig = _waiting_run(api, outreach)
    unchanged = get_files().get_text(record.draft.body_key)

    # When the approver approves sending that unchanged text back as "edits"
    reply = _decide(
        api, record.approval_id, {"decision": "approve", "sig": sig, "edits": {"body": unchanged}}
    )
    assert reply.status == 200
    run = api.wait_for_end(execution_id)

    # Then it counts as a plain approval, and every view of the decision says so
    assert reply.json()["edited"] is False
    assert run["approvals"][0]["edited"] is False
    assert run["output"]["edited"] is False
