"""Referral scenarios: the real ASL on moto, the real handlers, the offline Claude model.

Seed: ``examples/seed/referral/crm.json``. RF-100 (Kestrel Analytics) refers Jordan Blake of
"Orchid Labs GmbH", where the CRM already knows another person (RF-610), so the entity match runs
and answers "none"; RF-110, a Kestrel Analytics client with status dormant, is re-engaged.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.referral.create_referred_contact import CreateInput, create_referred_contact
from functions.referral.find_dormant_clients import DormantInput, find_dormant_clients
from functions.referral.grant_credit import GrantInput, grant_credit
from functions.referral.match_referral import MAX_CANDIDATES, likely_same, possible_duplicates, review_reason
from functions.referral.models import (
    REWARD_APPROVAL_THRESHOLD_CENTS,
    Candidate,
    EntityMatch,
    Match,
    Person,
    ReferredContact,
    match_model,
    referred_contact_id,
)
from functions.referral.rollback_referred_contact import RollbackInput, rollback_referred_contact
from functions.registry import ROOT, WORKFLOWS
from functions.shared import asl
from functions.shared.adapters import get_billing, get_crm, get_files
from functions.shared.adapters.memory import InMemoryBilling, InMemoryCrm
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.contact_keys import company_key
from functions.shared.errors import BusinessRuleError
from functions.shared.llm.offline import Malformed, Reply, offline_model
from functions.shared.ports.crm import Activity, Contact
from functions.shared.step_handler import StepContext
from local.cli import main
from local.runtime import InputRejected, LocalRuntime, RunResult
from tests.workflows.conftest import activities, approve, drive, row, states

WORKFLOW = "referral"
EXAMPLE = ROOT / "examples" / "referral.json"
REFERRED_ID = referred_contact_id("jordan.blake@orchid-labs.example")

HAPPY_PATH = [
    "LoadReferrer",
    "MatchReferral",
    "IsDuplicate",
    "CreateReferredContact",
    "SendThankYou",
    "RewardRoute",
    "RewardRequestApproval",
    "GrantCredit",
    "FindDormantClients",
    "HasDormantClient",
    "DraftReengagement",
    "ReengagementRequestApproval",
    "SendReengagement",
    "LogReengagement",
]


@pytest.fixture
def referral_input() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return loaded


def emails_to(runtime: LocalRuntime, address: str) -> list[dict[str, Any]]:
    return [e for e in runtime.outbox() if e["to"] == address]


def entity_match_calls() -> list[dict[str, Any]]:
    return [r for r in offline_model().requests if r["tool_choice"]["name"] == "referral_entity_match"]


def reject_reward(record: ApprovalRecord) -> Decision:
    if record.state == "RewardRequestApproval":
        return Decision(decision="reject", comment="over this quarter's referral budget")
    return Decision(decision="approve")


def only_reengagement(record: ApprovalRecord) -> Decision:
    assert record.state == "ReengagementRequestApproval", f"unexpected approval {record.state}"
    return Decision(decision="approve")


# --- scenarios on the local runtime ---------------------------------------------------------------


@pytest.mark.slow
def test_referral_reads_candidates_and_colleagues_from_the_crm_index_never_a_scan(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given every DynamoDB Scan and Query the run makes is recorded
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], event_name: str, **_: Any) -> None:
        calls.append((event_name.rsplit(".", 1)[-1], dict(params)))

    events = client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.Scan", record)
    events.register("provide-client-params.dynamodb.Query", record)
    try:
        # When the referral runs to the end
        result = drive(runtime, WORKFLOW, referral_input, approve)
    finally:
        events.unregister("provide-client-params.dynamodb.Scan", record)
        events.unregister("provide-client-params.dynamodb.Query", record)

    # Then it found the Orchid Labs candidate and the dormant Kestrel client through the lookup
    # index, and never scanned the CRM table (a scan's cost grows with the whole CRM)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output is not None
    assert result.output["reengaged_contact_id"] == "RF-110"
    crm_table = settings().crm_table
    assert [p for op, p in calls if op == "Scan" and p["TableName"] == crm_table] == []
    lookups = {
        p["ExpressionAttributeValues"][":key"]["S"]
        for op, p in calls
        if op == "Query" and p.get("IndexName") == "gsi2"
    }
    assert "COMPANY#orchid" in lookups  # MatchReferral's candidates
    assert "COMPANY#kestrel" in lookups  # FindDormantClients' colleagues of the referrer


@pytest.mark.slow
def test_referral_is_recorded_rewarded_once_and_the_dormant_client_is_reengaged(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given RF-100 refers a new person and asks a $150 reward (above the $100 threshold)
    # When the rewards approver approves the reward and the re-engagement email
    result = drive(runtime, WORKFLOW, referral_input, approve)

    # Then the run went through every step once, including both approvals
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result) == HAPPY_PATH
    assert all(r.status == "SUCCEEDED" for r in result.timeline)
    assert result.output is not None
    assert result.output["status"] == "reengaged"
    assert result.output["referred_contact_id"] == REFERRED_ID
    assert result.output["reengaged_contact_id"] == "RF-110"
    assert result.output["approved_by"] == "finance-lead@acme-demo.com"
    # and the entity match ran on the Orchid Labs candidate and answered "none"
    (call,) = entity_match_calls()
    assert "RF-610" in json.dumps(call["messages"])
    # and the referred person is a new CRM contact attributed to the referrer
    contact = get_crm().get_contact(REFERRED_ID)
    assert contact is not None
    assert (contact.status, contact.email, contact.company) == (
        "new",
        "jordan.blake@orchid-labs.example",
        "Orchid Labs GmbH",
    )
    (received,) = activities(REFERRED_ID)
    assert received.kind == "referral_received"
    assert received.details["referrer_contact_id"] == "RF-100"
    # and exactly one thank-you went to the referrer's CRM address
    (thanks,) = emails_to(runtime, "alex.morgan@kestrel-analytics.example")
    assert "Jordan Blake" in thanks["body"]
    # and exactly one $150 credit was granted to the referrer, after the approval
    (credit,) = get_billing().list_credits("RF-100")
    assert credit.amount_cents == 15000
    assert credit.credit_id == result.output["credit_id"]
    # and the dormant client got the approved email at its CRM address, logged on its timeline
    (reengagement,) = emails_to(runtime, "jamie.chen@kestrel-analytics.example")
    assert reengagement["body"].startswith("Hi Jamie,")
    assert "Jordan" not in reengagement["body"]
    assert [a.kind for a in activities("RF-110")] == ["reengagement_sent"]
    # and the two approvals were asked of the rewards approver
    records = runtime.approvals().store.for_execution(result.execution_arn.rsplit(":", 1)[-1])
    assert sorted((r.state, r.status) for r in records) == [
        ("ReengagementRequestApproval", "APPROVED"),
        ("RewardRequestApproval", "APPROVED"),
    ]


def test_on_a_cold_cache_the_reengagement_draft_reads_the_prompt_the_entity_match_wrote(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given no prompt in the cache yet
    # When a referral runs to the re-engagement email
    result = drive(runtime, WORKFLOW, referral_input, approve)
    assert result.status == "SUCCEEDED", (result.error, result.cause)

    # Then MatchReferral wrote the workflow's one prefix (both tools and both prompts) and
    # DraftReengagement, a different step forcing a different tool, read all of it from the cache
    match, draft = offline_model().billed
    assert (match.tool_name, draft.tool_name) == ("referral_entity_match", "referral_reengagement_email")
    assert match.usage["cache_creation_input_tokens"] == match.prefix_tokens >= 2048
    assert draft.usage["cache_read_input_tokens"] == draft.prefix_tokens == match.prefix_tokens
    assert draft.usage["cache_creation_input_tokens"] == 0


@pytest.mark.slow
def test_exact_email_duplicate_ends_without_creating_sending_or_crediting(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given the referred address already belongs to a client (RF-400)
    payload = {
        **referral_input,
        "referred_name": "Morgan Lee",
        "referred_email": "Morgan.Lee@Bluefin-Marine.example",
    }

    result = drive(runtime, WORKFLOW, payload, None)

    # Then the run ends as a duplicate, decided by the CRM lookup alone (no model call)
    assert result.status == "SUCCEEDED"
    assert states(result) == ["LoadReferrer", "MatchReferral", "IsDuplicate", "LogDuplicate"]
    assert result.output is not None
    assert result.output["status"] == "duplicate"
    assert result.output["referred_contact_id"] == "RF-400"
    assert "status client" in result.output["detail"]
    assert entity_match_calls() == []
    # and nothing was created, sent or credited; the referral is on the referrer's timeline
    assert get_crm().get_contact(referred_contact_id("morgan.lee@bluefin-marine.example")) is None
    assert runtime.outbox() == []
    assert get_billing().list_credits("RF-100") == []
    assert [a.kind for a in activities("RF-100")] == ["referral_duplicate"]


@pytest.mark.slow
def test_fuzzy_company_and_name_match_is_a_duplicate(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given "Patrick Quinn, Granite Ridge Builders Ltd." with a new address; the CRM has "Pat Quinn,
    # Granite Ridge Builders" (RF-500)
    payload = {
        **referral_input,
        "referred_name": "Patrick Quinn",
        "referred_email": "patrick.quinn@granite-ridge.example",
        "referred_company": "Granite Ridge Builders Ltd.",
    }

    result = drive(runtime, WORKFLOW, payload, None)

    # Then the entity match named RF-500 and code routed the run to the duplicate end
    assert result.status == "SUCCEEDED"
    assert states(result)[-1] == "LogDuplicate"
    assert result.output is not None
    assert result.output["status"] == "duplicate"
    assert result.output["referred_contact_id"] == "RF-500"
    assert "matched by entity_match" in result.output["detail"]
    assert len(entity_match_calls()) == 1
    assert get_crm().get_contact(referred_contact_id("patrick.quinn@granite-ridge.example")) is None
    assert runtime.outbox() == []


@pytest.mark.slow
def test_low_confidence_match_is_treated_as_a_new_person(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given a model that names RF-500 but with low confidence (fixture case for this spelling)
    payload = {
        **referral_input,
        "referrer_contact_id": "RF-300",
        "referred_name": "Terry Quinn",
        "referred_email": "terry@quinn-family.example",
        "referred_company": "Granite Ridge Builders",
        "reward_cents": 0,
    }

    result = drive(runtime, WORKFLOW, payload, None)

    # Then code does not call it a duplicate: a new contact is created and the run is rewarded
    assert result.status == "SUCCEEDED"
    assert "LogDuplicate" not in states(result)
    assert "GrantCredit" not in states(result)  # no reward asked
    assert result.output is not None
    assert result.output["status"] == "rewarded"
    assert result.output["credit_id"] is None
    assert get_crm().get_contact(referred_contact_id("terry@quinn-family.example")) is not None
    assert len(entity_match_calls()) == 1


def terry_quinn(referral_input: dict[str, Any], reward_cents: int) -> dict[str, Any]:
    """A referral the fixture model answers "RF-500, low confidence" (same company and surname)."""
    return {
        **referral_input,
        "referrer_contact_id": "RF-300",
        "referred_name": "Terry Quinn",
        "referred_email": "terry@quinn-family.example",
        "referred_company": "Granite Ridge Builders",
        "reward_cents": reward_cents,
    }


def approval_of(runtime: LocalRuntime, result: RunResult, state: str) -> ApprovalRecord:
    records = runtime.approvals().store.for_execution(result.execution_arn.rsplit(":", 1)[-1])
    return next(r for r in records if r.state == state)


def approval_states(runtime: LocalRuntime, result: RunResult) -> list[str]:
    return [r.state for r in runtime.approvals().store.for_execution(result.execution_arn.rsplit(":", 1)[-1])]


def reject_review(record: ApprovalRecord) -> Decision:
    assert record.state == "ReviewMatch", f"unexpected approval {record.state}"
    return Decision(decision="reject", comment="that is Pat Quinn, already our contact")


UNSURE_START = ["LoadReferrer", "MatchReferral", "IsDuplicate", "ReviewMatch"]
TERRY = referred_contact_id("terry@quinn-family.example")


@pytest.mark.slow
def test_unsure_match_rejected_by_the_person_leaves_no_contact_no_thank_you_and_no_reward(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given a model that names RF-500 with low confidence, and a $50 reward (below the $100 tier)
    # When the rewards approver, asked before anything happens, says "already known"
    result = drive(runtime, WORKFLOW, terry_quinn(referral_input, 5000), reject_review)

    # Then the run ended as a duplicate right after the review: nothing was created, sent or paid
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result) == [*UNSURE_START, "LogDuplicate"]
    assert result.output is not None
    assert result.output["status"] == "duplicate"
    assert "rejected by rewards@acme-demo.com: that is Pat Quinn" in result.output["detail"]
    assert get_crm().get_contact(TERRY) is None
    assert emails_to(runtime, "sam.ortiz@lumen-dental.example") == []  # no thank-you
    assert get_billing().list_credits("RF-300") == []
    (logged,) = [a for a in activities("RF-300") if a.kind == "referral_duplicate"]
    assert "was not confirmed as a new person (the model named RF-500 with low confidence" in logged.summary
    # and the approver was told why, and what approving would do
    body = get_files().get_text(approval_of(runtime, result, "ReviewMatch").draft.body_key)
    assert "The duplicate check is unsure: the model named RF-500 with low confidence" in body
    assert "Reject if the firm already knows them: nothing is created, sent or credited." in body


@pytest.mark.slow
def test_unsure_match_confirmed_by_the_person_records_thanks_and_rewards_once_with_one_approval(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given the same unsure match, and a $150 reward (the directory's $100.01-$500 tier)
    # When that tier's approver (the finance lead) confirms a new person
    result = drive(runtime, WORKFLOW, terry_quinn(referral_input, 15000), approve)

    # Then the contact, the thank-you and the credit followed the one review (which named the amount)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result)[:8] == [
        *UNSURE_START,
        "CreateReferredContact",
        "SendThankYou",
        "RewardRoute",
        "GrantCredit",
    ]
    assert approval_states(runtime, result) == ["ReviewMatch"]
    assert get_crm().get_contact(TERRY) is not None
    assert len(emails_to(runtime, "sam.ortiz@lumen-dental.example")) == 1  # the thank-you
    (credit,) = get_billing().list_credits("RF-300")
    assert credit.amount_cents == 15000
    assert result.output is not None
    assert result.output["approved_by"] == "finance-lead@acme-demo.com"
    assert "$150.00" in get_files().get_text(approval_of(runtime, result, "ReviewMatch").draft.body_key)


@pytest.mark.slow
def test_hostile_model_answering_none_for_a_namesake_cannot_pay_without_a_person(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given "Patrick Quinn" of Granite Ridge Builders, whom the CRM knows as "Pat Quinn" (RF-500),
    # and a model steered to answer "none" with high confidence
    offline_model().script(
        "referral_entity_match",
        Reply({"match": "none", "confidence": "high", "reasons": "Definitely a new person, pay now."}),
    )
    payload = {
        **terry_quinn(referral_input, 5000),
        "referred_name": "Patrick Quinn",
        "referred_email": "patrick@quinn-family.example",
    }

    # When the rewards approver approves after checking
    result = drive(runtime, WORKFLOW, payload, approve)

    # Then code saw a candidate with the same surname: a person confirmed before anything happened
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result)[:5] == [*UNSURE_START, "CreateReferredContact"]
    assert offline_model().pending("referral_entity_match") == 0
    (credit,) = get_billing().list_credits("RF-300")
    assert credit.amount_cents == 5000
    assert result.output is not None
    assert result.output["approved_by"] == "rewards@acme-demo.com"


def test_grant_credit_refuses_a_reward_after_an_unsure_match_without_an_approval() -> None:
    # Given an unsure match and no approval on the run (the ASL Choice bypassed)
    match = Match(
        decision="new",
        method="entity_match",
        new_contact_id="RF-R-1",
        reasons="same surname",
        needs_review=True,
        review_reason="the model answered none with low confidence",
    )
    payload = GrantInput(
        referrer_contact_id="RF-300",
        reward_cents=5000,
        referrer=Person(
            contact_id="RF-300", name="Sam Ortiz", email="sam@lumen.example", company="Lumen", status="client"
        ),
        referred=ReferredContact(
            contact_id="RF-R-1", name="Terry Quinn", email="t@q.example", company="Q", created=True
        ),
        match=match,
    )
    ctx = StepContext(workflow=WORKFLOW, step="grant_credit", state="GrantCredit", execution="x", attempt=0)

    # Then nothing is granted
    with pytest.raises(BusinessRuleError, match="unsure match needs an approval"):
        grant_credit(payload, billing=InMemoryBilling(), ctx=ctx)


@pytest.mark.parametrize(
    ("answer", "confidence", "names", "expected"),
    [
        ("RF-500", "low", ["Pat Quinn"], "the model named RF-500 with low confidence"),
        ("none", "low", ["Robin Hale"], "none with low confidence"),
        ("none", "high", ["Pat Quinn"], "RF-1 has the referred person's name or surname"),
        ("none", "medium", ["Robin Hale"], None),
    ],
)
def test_a_new_decision_needs_review_unless_the_model_was_sure_and_no_candidate_shares_the_name(
    answer: str, confidence: str, names: list[str], expected: str | None
) -> None:
    candidates = [
        Candidate(contact_id=f"RF-{i}", name=n, email="x@y.example", company="Y", status="new")
        for i, n in enumerate(names, 1)
    ]
    likely = [c.contact_id for c in candidates if likely_same(c, name="Terry Quinn")]
    reason = review_reason(answer, confidence, likely)
    assert reason == expected if expected is None else expected in (reason or "")


@pytest.mark.slow
def test_model_answer_outside_the_candidates_is_reprompted_and_never_used(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given a model that first names a contact that was not among the candidates
    offline_model().script(
        "referral_entity_match",
        Malformed({"match": "RF-400", "confidence": "high", "reasons": "Looks like the same company to me."}),
    )

    result = drive(runtime, WORKFLOW, {**referral_input, "reward_cents": 0}, approve)

    # Then the client re-prompted with the allowed ids and the valid answer ("none") decided
    assert result.status == "SUCCEEDED"
    calls = entity_match_calls()
    assert len(calls) == 2
    assert "must be one of" in json.dumps(calls[1]["messages"][-1])
    assert row(result, "MatchReferral").attempts == 1
    assert "LogDuplicate" not in states(result)
    assert get_crm().get_contact(REFERRED_ID) is not None


@pytest.mark.slow
def test_reward_above_the_threshold_rejected_grants_no_credit(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # When the rewards approver rejects the $150 reward
    result = drive(runtime, WORKFLOW, referral_input, reject_reward)

    # Then the run ends as designed, without a credit and without a re-engagement
    assert result.status == "SUCCEEDED"
    assert states(result)[-2:] == ["RewardRequestApproval", "LogRewardRejected"]
    assert row(result, "RewardRequestApproval").status == "CAUGHT"
    assert result.output is not None
    assert result.output["status"] == "reward_rejected"
    assert "over this quarter's referral budget" in result.output["detail"]
    assert get_billing().list_credits("RF-100") == []
    assert [a.kind for a in activities("RF-100")] == ["referral_reward_rejected"]
    # and the referral itself stands: the contact exists, the referrer was thanked
    contact = get_crm().get_contact(REFERRED_ID)
    assert contact is not None
    assert contact.status == "new"
    assert len(emails_to(runtime, "alex.morgan@kestrel-analytics.example")) == 1
    assert emails_to(runtime, "jamie.chen@kestrel-analytics.example") == []


@pytest.mark.slow
def test_reward_up_to_the_threshold_is_granted_without_asking(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given a reward of exactly $100 (the threshold is "above $100")
    payload = {**referral_input, "reward_cents": REWARD_APPROVAL_THRESHOLD_CENTS}

    # When the only approval asked is the re-engagement email's
    result = drive(runtime, WORKFLOW, payload, only_reengagement)

    # Then the credit was granted straight away
    assert result.status == "SUCCEEDED"
    assert "RewardRequestApproval" not in states(result)
    assert states(result)[5:7] == ["RewardRoute", "GrantCredit"]
    (credit,) = get_billing().list_credits("RF-100")
    assert credit.amount_cents == REWARD_APPROVAL_THRESHOLD_CENTS
    assert result.output is not None
    assert result.output["status"] == "reengaged"


@pytest.mark.slow
def test_no_dormant_client_ends_after_the_reward(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given a referrer whose colleagues are all active clients, and a $50 reward (no approval)
    payload = {**referral_input, "referrer_contact_id": "RF-300", "reward_cents": 5000}

    result = drive(runtime, WORKFLOW, payload, None)

    # Then the run ends "rewarded" right after the credit, with no draft and no approval
    assert result.status == "SUCCEEDED"
    assert states(result)[-4:] == ["GrantCredit", "FindDormantClients", "HasDormantClient", "LogRewarded"]
    assert result.output is not None
    assert result.output["status"] == "rewarded"
    assert len(get_billing().list_credits("RF-300")) == 1
    assert [a.kind for a in activities("RF-300")] == ["referral_rewarded"]
    assert [e["to"] for e in runtime.outbox()] == ["sam.ortiz@lumen-dental.example"]  # the thank-you only


@pytest.mark.slow
@pytest.mark.parametrize(
    ("error", "when", "attempts"),
    [("TransientIntegrationError", "before", 3), ("Lambda.Unknown", "after", 2)],
)
def test_billing_failures_are_retried_and_exactly_one_credit_is_granted(
    runtime: LocalRuntime, referral_input: dict[str, Any], error: str, when: str, attempts: int
) -> None:
    # Given billing throttles twice / the grant Lambda dies after granting (before it reports)
    runtime.dispatcher.inject("grant_credit", error, times=attempts - 1, when=when)  # type: ignore[arg-type]

    result = drive(runtime, WORKFLOW, referral_input, approve)

    # Then Step Functions retried and the run succeeded with one credit (the replay granted nothing)
    assert result.status == "SUCCEEDED"
    grant = row(result, "GrantCredit")
    assert (grant.attempts, grant.status, grant.error) == (attempts, "SUCCEEDED", error)
    (credit,) = get_billing().list_credits("RF-100")
    assert result.output is not None
    assert result.output["credit_id"] == credit.credit_id


@pytest.mark.slow
def test_permanent_failure_after_the_contact_was_created_rolls_it_back_and_fails_with_the_cause(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given the thank-you email is refused for good (not retried)
    runtime.dispatcher.inject("send_thank_you", "PermanentIntegrationError", times=1)

    result = drive(runtime, WORKFLOW, referral_input, approve)

    # Then the run FAILED with the original error and cause, after the compensation chain
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert result.cause is not None
    assert "before SendThankYou" in result.cause
    assert row(result, "SendThankYou").attempts == 1
    assert states(result)[-5:] == [
        "CreateReferredContact",
        "SendThankYou",
        "RollbackAfterFailure",
        "RecordFailure",
        "ReferralFailed",
    ]
    # and the contact it created is disqualified with the rollback on its timeline (CRM cannot delete)
    contact = get_crm().get_contact(REFERRED_ID)
    assert contact is not None
    assert contact.status == "disqualified"
    assert not contact.do_not_contact
    assert [a.kind for a in activities(REFERRED_ID)] == ["referral_received", "referral_rolled_back"]
    (failure,) = activities("RF-100")
    assert failure.kind == "referral_failed"
    assert "PermanentIntegrationError" in failure.summary
    assert runtime.outbox() == []
    assert get_billing().list_credits("RF-100") == []

    # When the same referral is submitted again
    again = drive(runtime, WORKFLOW, referral_input, approve)

    # Then the rolled-back contact is revived instead of being reported as a duplicate
    assert again.status == "SUCCEEDED"
    assert again.output is not None
    assert again.output["status"] == "reengaged"
    revived = get_crm().get_contact(REFERRED_ID)
    assert revived is not None
    assert revived.status == "new"


@pytest.mark.slow
def test_failure_after_the_credit_is_recorded_without_rolling_the_referral_back(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given the re-engagement send is refused for good, after the credit was granted
    runtime.dispatcher.inject("send_reengagement", "PermanentIntegrationError", times=1)

    result = drive(runtime, WORKFLOW, referral_input, approve)

    # Then the run fails, but the referral and its credit stand (they are complete and irreversible)
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert states(result)[-3:] == ["SendReengagement", "RecordFailure", "ReferralFailed"]
    contact = get_crm().get_contact(REFERRED_ID)
    assert contact is not None
    assert contact.status == "new"
    assert len(get_billing().list_credits("RF-100")) == 1


@pytest.mark.slow
def test_unknown_referrer_fails_at_the_first_step(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    result = drive(runtime, WORKFLOW, {**referral_input, "referrer_contact_id": "RF-999"}, None)

    assert result.status == "FAILED"
    assert result.error == "InvalidInputError"
    assert result.cause is not None
    assert "referrer RF-999 not found in the CRM" in result.cause
    assert states(result) == ["LoadReferrer"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"referrer_contact_id": "RF 100; drop"}, {"referrer_contact_id"}),
        ({"referred_email": "not-an-address"}, {"referred_email"}),
        ({"referred_company": "two\nlines"}, {"referred_company"}),
        ({"referred_name": ""}, {"referred_name"}),
        ({"reward_cents": 100_001}, {"reward_cents"}),
        ({"reward_cents": -1}, {"reward_cents"}),
        ({"rewards_approver": "rewards"}, {"rewards_approver"}),
        ({"dormant_after_days": 10}, {"dormant_after_days"}),
        ({"dormant_after_days": 721}, {"dormant_after_days"}),
        ({"unexpected": 1}, {"unexpected"}),
    ],
)
def test_invalid_input_is_refused_with_field_errors_and_starts_nothing(
    runtime: LocalRuntime, referral_input: dict[str, Any], change: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(InputRejected) as refused:
        runtime.start(WORKFLOW, {**referral_input, **change})

    assert {e["field"] for e in refused.value.errors} == fields
    machine = runtime.state_machines[WORKFLOW]
    assert runtime.sfn.list_executions(stateMachineArn=machine)["executions"] == []


@pytest.mark.slow
def test_cli_runs_the_example_to_the_end_with_approvals() -> None:
    out = io.StringIO()

    code = main(["run", WORKFLOW, "--input", str(EXAMPLE), "--decision", "approve"], out=out)

    assert code == 0, out.getvalue()
    assert "jamie.chen@kestrel-analytics.example" in out.getvalue()


# --- fast checks of the domain code ----------------------------------------------------------------


def test_the_asl_threshold_is_the_code_threshold() -> None:
    states_by_name = dict(asl.iter_states(asl.definition(WORKFLOWS[WORKFLOW])["States"]))
    rules = states_by_name["RewardRoute"]["Choices"]
    assert rules[1]["And"][0] == {
        "Variable": "$.reward_cents",
        "NumericGreaterThan": REWARD_APPROVAL_THRESHOLD_CENTS,
    }


def test_entity_match_accepts_only_the_candidates_or_none_with_a_static_schema() -> None:
    bound = match_model(frozenset({"RF-500", "RF-610"}))
    assert bound.model_json_schema() == EntityMatch.model_json_schema()  # cached prefix unchanged
    assert bound.model_validate({"match": "RF-500", "confidence": "high", "reasons": "same person here"})
    assert bound.model_validate({"match": "none", "confidence": "low", "reasons": "nobody fits here"})
    with pytest.raises(ValueError, match="must be one of"):
        bound.model_validate({"match": "L-100", "confidence": "high", "reasons": "a made-up contact"})


def test_company_keys_ignore_legal_suffixes_and_punctuation() -> None:
    assert company_key("Northwind Freight Ltd.") == company_key("NORTHWIND FREIGHT") == "northwind freight"
    assert company_key("The Acme Co.") == "acme"
    assert company_key("Northwind Foods") != company_key("Northwind Freight")


def _contact(contact_id: str, company: str, **fields: Any) -> Contact:
    return Contact(
        contact_id=contact_id,
        email=fields.pop("email", f"{contact_id.lower()}@{company.split(maxsplit=1)[0].lower()}.example"),
        name=fields.pop("name", f"Person {contact_id}"),
        company=company,
        **fields,
    )


def test_candidates_are_same_company_same_domain_or_same_name() -> None:
    crm = InMemoryCrm()
    for contact in [
        _contact("A-1", "Northwind Freight"),
        _contact("A-2", "Northwind Foods"),
        _contact("A-3", "Elsewhere Inc", name="Dana Fox"),
        _contact("A-4", "Unrelated"),
        _contact("A-5", "Other Name", email="pat@northwind-freight.example"),
    ]:
        crm.put_contact(contact)
    found = possible_duplicates(
        crm, name="dana fox", email="dana@gmail.com", company="Northwind Freight Ltd."
    )
    assert [c.contact_id for c in found] == ["A-3", "A-1"]  # same name first; gmail.com says nothing
    by_domain = possible_duplicates(crm, name="X", email="dana@Northwind-Freight.example", company="NWF")
    assert [c.contact_id for c in by_domain] == ["A-5"]


def test_at_most_ten_candidates_go_to_the_model_first_by_id() -> None:
    crm = InMemoryCrm()
    for n in range(MAX_CANDIDATES + 3):
        crm.put_contact(_contact(f"B-{n:02d}", "Big Corp"))
    found = possible_duplicates(crm, name="Someone", email="someone@gmail.com", company="big corp inc")
    assert [c.contact_id for c in found] == [f"B-{n:02d}" for n in range(MAX_CANDIDATES)]


def test_at_a_busy_company_the_colleague_sharing_a_surname_is_shown_first() -> None:
    # Given twelve Northwind contacts whose ids sort before Patrick Novak's
    crm = InMemoryCrm()
    for n in range(12):
        crm.put_contact(_contact(f"NW-{n:03d}", "Northwind Freight", name=f"Colleague {n}"))
    crm.put_contact(_contact("RF-900", "Northwind Freight Ltd", name="Patrick Novak"))

    # When "Pat Novak" of Northwind is referred from a personal address
    found = possible_duplicates(
        crm, name="Pat Novak", email="pat.novak@gmail.com", company="Northwind Freight"
    )

    # Then the model sees ten candidates, Patrick Novak first, not the ten lowest ids
    assert len(found) == MAX_CANDIDATES
    assert found[0].contact_id == "RF-900"


def test_a_shared_surname_outranks_colleagues_who_share_only_the_mail_domain() -> None:
    # Given Patrick Novak under a personal address, and twelve colleagues on the company domain
    crm = InMemoryCrm()
    for n in range(12):
        crm.put_contact(
            _contact(
                f"NW-{n:03d}", "Northwind Freight", name=f"Colleague {n}", email=f"c{n}@northwind.example"
            )
        )
    crm.put_contact(_contact("RF-900", "Northwind Freight", name="Patrick Novak", email="pnovak@gmail.com"))

    # When "Pat Novak" is referred from the company address
    found = possible_duplicates(
        crm, name="Pat Novak", email="pat.novak@northwind.example", company="Northwind"
    )

    # Then Patrick Novak is the first candidate, ahead of the colleagues who only share the domain
    assert found[0].contact_id == "RF-900"


def test_a_same_name_or_same_domain_contact_outranks_company_colleagues() -> None:
    crm = InMemoryCrm()
    for n in range(12):
        crm.put_contact(_contact(f"A-{n:03d}", "Acme", name=f"Colleague {n}"))
    crm.put_contact(_contact("Z-1", "Elsewhere", name="Dana Fox"))
    crm.put_contact(_contact("Z-2", "Other Name", name="Sam Roe", email="sam@acme-corp.example"))
    found = possible_duplicates(crm, name="Dana Fox", email="dana@acme-corp.example", company="Acme")
    assert [c.contact_id for c in found[:3]] == ["Z-1", "Z-2", "A-000"]


def _create_input(referrer_id: str) -> CreateInput:
    return CreateInput(
        referred_name="Jordan Blake",
        referred_email="jordan.blake@orchid-labs.example",
        referred_company="Orchid Labs GmbH",
        referrer=Person(
            contact_id=referrer_id,
            name="R",
            email=f"{referrer_id.lower()}@x.example",
            company="X",
            status="client",
        ),
        match=Match(decision="new", method="no_candidates", new_contact_id=REFERRED_ID, reasons="nobody"),
    )


def _ctx(execution: str) -> StepContext:
    return StepContext(
        workflow=WORKFLOW,
        step="create_referred_contact",
        state="CreateReferredContact",
        execution=execution,
        attempt=0,
    )


class FirstReadIsStale(InMemoryCrm):
    """The same CRM, except that its first read of a contact returns ``stale``: what another run's
    read saw just before this run's write landed (the race)."""

    def __init__(self, crm: InMemoryCrm, stale: Contact | None) -> None:
        super().__init__()
        self.contacts, self.activities = crm.contacts, crm.activities
        self._stale: list[Contact | None] = [stale]

    def get_contact(self, contact_id: str) -> Contact | None:
        return self._stale.pop() if self._stale else super().get_contact(contact_id)


def test_two_runs_referring_one_person_at_once_reward_once_and_the_loser_undoes_nothing() -> None:
    # Given two referral runs for the same person whose MatchReferral both ran before either created
    # the contact (two referrers, or a form submitted twice without an idempotency key)
    crm = InMemoryCrm()
    first = create_referred_contact(_create_input("RF-100"), crm=crm, ctx=_ctx("run-a"))

    # When the second run creates the contact, having read the CRM just before the first run wrote
    # it (only the atomic create can tell), and then the first run's step is retried
    with pytest.raises(BusinessRuleError, match="created meanwhile by someone else"):
        create_referred_contact(_create_input("RF-200"), crm=FirstReadIsStale(crm, None), ctx=_ctx("run-b"))
    retried = create_referred_contact(_create_input("RF-100"), crm=crm, ctx=_ctx("run-a"))

    # Then the second run stops before its thank-you and credit, the first run's retry goes on,
    # and the second run's compensation leaves the first run's contact alone
    assert (first.created, retried.created) == (True, False)
    rollback = rollback_referred_contact(
        RollbackInput(match=_create_input("RF-200").match), crm=crm, ctx=_ctx("run-b")
    )
    assert rollback.rolled_back is False
    assert "not by this run" in rollback.detail
    contact = crm.get_contact(REFERRED_ID)
    assert contact is not None
    assert (contact.status, contact.source) == ("new", "referral:run-a")


def test_two_runs_reviving_one_rolled_back_contact_at_once_reward_once() -> None:
    # Given a contact an earlier failed run rolled back (disqualified), referred again twice at once
    crm = InMemoryCrm()
    crm.put_contact(
        Contact(
            contact_id=REFERRED_ID,
            email="jordan.blake@orchid-labs.example",
            name="Jordan Blake",
            company="Orchid Labs GmbH",
            status="disqualified",
            source="referral:run-0",
        )
    )
    revive = _create_input("RF-100").match.model_copy(update={"revived": True})
    first = create_referred_contact(
        _create_input("RF-100").model_copy(update={"match": revive}), crm=crm, ctx=_ctx("run-a")
    )

    # When the second run, which also saw it disqualified, revives it too
    disqualified = crm.contacts[REFERRED_ID].model_copy(
        update={"status": "disqualified", "source": "referral:run-0"}
    )
    stale = FirstReadIsStale(crm, disqualified)
    with pytest.raises(BusinessRuleError, match="created meanwhile by someone else"):
        create_referred_contact(
            _create_input("RF-200").model_copy(update={"match": revive}), crm=stale, ctx=_ctx("run-b")
        )

    # Then only the first run revived it
    assert first.created is True
    contact = crm.get_contact(REFERRED_ID)
    assert contact is not None
    assert (contact.status, contact.source) == ("new", "referral:run-a")


def test_a_contact_written_before_contacts_had_a_source_is_still_rolled_back_by_its_own_run() -> None:
    # Given a referral run in flight across the upgrade: its contact has no source, but its
    # referral_received activity is on the timeline
    crm = InMemoryCrm()
    create_referred_contact(_create_input("RF-100"), crm=crm, ctx=_ctx("run-a"))
    legacy = crm.contacts[REFERRED_ID].model_copy(update={"source": None})
    crm.contacts[REFERRED_ID] = legacy

    # When its compensation runs (another state of the same run), and another run's does
    other = rollback_referred_contact(
        RollbackInput(match=_create_input("RF-200").match), crm=crm, ctx=_ctx("run-b")
    )
    own = rollback_referred_contact(
        RollbackInput(match=_create_input("RF-100").match),
        crm=crm,
        ctx=_ctx("run-a").model_copy(update={"state": "RollbackAfterFailure"}),
    )

    # Then only its own run undoes it
    assert (other.rolled_back, own.rolled_back) == (False, True)
    contact = crm.get_contact(REFERRED_ID)
    assert contact is not None
    assert contact.status == "disqualified"


def test_dormant_means_status_dormant_or_latest_activity_older_than_the_threshold() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    crm = InMemoryCrm()
    contacts = [
        _contact("K-1", "Kestrel Analytics", status="client"),  # the referrer
        _contact("K-2", "Kestrel Analytics Ltd.", status="client", updated_at="2026-11-20T00:00:00Z"),
        _contact("K-3", "Kestrel Analytics", status="client", updated_at="2026-11-20T00:00:00Z"),
        _contact(
            "K-4",
            "Kestrel Analytics",
            status="client",
            do_not_contact=True,
            updated_at="2020-01-01T00:00:00Z",
        ),
        _contact("K-5", "Kestrel Analytics", status="new", updated_at="2020-01-01T00:00:00Z"),
        _contact("X-1", "Other Co", status="dormant"),
    ]
    for contact in contacts:
        crm.put_contact(contact)
    # K-2: profile touched recently, but its latest activity is 200 days old → dormant
    crm.log_activity(_activity("K-2", now - timedelta(days=200)))
    # K-3: an activity 10 days ago → active
    crm.log_activity(_activity("K-3", now - timedelta(days=400)))
    crm.log_activity(_activity("K-3", now - timedelta(days=10)))
    referrer = Person.model_validate(contacts[0].model_dump(include=set(Person.model_fields)))
    payload = DormantInput(
        referrer=referrer,
        referred=ReferredContact(
            contact_id="REF-1", name="New Person", email="new@x.example", company="Y", created=True
        ),
        dormant_after_days=90,
    )

    dormant = find_dormant_clients(payload, crm=crm, now=now)

    assert dormant.found
    assert dormant.contact is not None
    assert dormant.contact.contact_id == "K-2"
    assert dormant.days_inactive == 200
    assert dormant.considered == 2  # K-2 and K-3: not the referrer, do-not-contact, leads or other firms
    quiet = find_dormant_clients(payload.model_copy(update={"dormant_after_days": 365}), crm=crm, now=now)
    assert not quiet.found


def _activity(contact_id: str, at: datetime) -> Activity:
    return Activity(
        activity_id=f"{contact_id}-{at.date()}",
        contact_id=contact_id,
        kind="meeting",
        summary="call",
        at=at.isoformat(),
    )


# --- approvals that expire or are rejected -------------------------------------------------------


def expire_approval_at(runtime: LocalRuntime, payload: dict[str, Any], state: str) -> RunResult:
    """Approve every approval before ``state``, then let the one at ``state`` pass its deadline."""
    arn = runtime.start(WORKFLOW, payload)
    name = arn.rsplit(":", 1)[-1]
    while True:
        assert runtime.wait(arn, until="approval")["status"] == "RUNNING"
        (record,) = runtime.pending_approvals(name)
        if record.state == state:
            break
        runtime.decide(record, approve(record))
    assert runtime.approvals().expire(record)
    runtime.wait(arn)
    return runtime.result(arn)


def reject_reengagement(record: ApprovalRecord) -> Decision:
    if record.state == "ReengagementRequestApproval":
        return Decision(decision="reject", comment="Jamie is mid-renewal, do not email now")
    return Decision(decision="approve")


@pytest.mark.slow
def test_reward_approval_nobody_decides_expires_and_no_credit_is_granted(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given RF-100 asks a $150 reward (above the threshold) and the rewards approver never decides
    # When the approval passes its deadline (the sweeper's default decision: reject)
    result = expire_approval_at(runtime, referral_input, "RewardRequestApproval")

    # Then the run ends reward_rejected as designed, with no credit and no re-engagement
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result)[-2:] == ["RewardRequestApproval", "LogRewardRejected"]
    assert row(result, "RewardRequestApproval").status == "CAUGHT"
    assert "GrantCredit" not in states(result)
    assert result.output is not None
    assert result.output["status"] == "reward_rejected"
    assert result.output["credit_id"] is None
    assert "nobody decided before the approval deadline" in result.output["detail"]
    assert get_billing().list_credits("RF-100") == []
    (logged,) = activities("RF-100")
    assert logged.kind == "referral_reward_rejected"
    assert logged.details["error"] == "ApprovalExpired"
    # and the approval is recorded as expired; the referral itself stands
    (record,) = runtime.approvals().store.for_execution(result.execution_arn.rsplit(":", 1)[-1])
    assert (record.state, record.status) == ("RewardRequestApproval", "EXPIRED")
    assert get_crm().get_contact(REFERRED_ID) is not None
    assert len(emails_to(runtime, "alex.morgan@kestrel-analytics.example")) == 1
    assert emails_to(runtime, "jamie.chen@kestrel-analytics.example") == []


@pytest.mark.slow
def test_reengagement_rejected_sends_nothing_to_the_dormant_client_and_keeps_the_credit(
    runtime: LocalRuntime, referral_input: dict[str, Any]
) -> None:
    # Given the rewards approver approves the $150 reward
    # When they reject the drafted re-engagement email
    result = drive(runtime, WORKFLOW, referral_input, reject_reengagement)

    # Then the run ends reengagement_rejected as designed
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert states(result)[-2:] == ["ReengagementRequestApproval", "LogReengagementRejected"]
    assert row(result, "ReengagementRequestApproval").status == "CAUGHT"
    assert "SendReengagement" not in states(result)
    assert result.output is not None
    assert result.output["status"] == "reengagement_rejected"
    assert "Jamie is mid-renewal" in result.output["detail"]
    # and nothing went to the dormant client; the rejection is on its timeline
    assert emails_to(runtime, "jamie.chen@kestrel-analytics.example") == []
    assert [a.kind for a in activities("RF-110")] == ["reengagement_rejected"]
    # and the approved reward stands: exactly one credit, reported in the outcome
    (credit,) = get_billing().list_credits("RF-100")
    assert credit.amount_cents == 15000
    assert result.output["credit_id"] == credit.credit_id
