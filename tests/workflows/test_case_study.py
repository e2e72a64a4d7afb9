"""Case-study scenarios: the real ASL on moto, the real handlers, the offline Claude model.

The client answers the interview through the approvals mechanism: approve-with-edits on the
questions document carries the answers, reject means "declined", expiry means "no answers".
Deciders look at ``record.state`` to answer each of the three approvals differently.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from functions.case_study.collect_facts import MAX_SLUG, case_study_slug, still_published
from functions.registry import ROOT, WORKFLOWS
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.llm.offline import RateLimited, offline_model
from functions.shared.ports.crm import Activity
from local.cli import main as cli_main
from local.runtime import InputRejected, LocalRuntime
from tests.workflows.conftest import activities, drive, row, states

pytestmark = pytest.mark.slow

CLIENT = "maya.lindqvist@harborview-logistics.example"
MARKETING = "marketing-lead@acme-demo.com"
PUBLISHED_KEY = "published/case-studies/harborview-logistics-cs-d-100.md"
ANSWER = "We closed the books in twelve days, mostly matching freight invoices by hand."

HAPPY_PATH = [
    "CollectFacts",
    "WriteQuestions",
    "RequestAnswers",
    "DraftCaseStudy",
    "RequestClientApproval",
    "RequestMarketingApproval",
    "Publish",
    "LogPublished",
]

Decider = Callable[[ApprovalRecord], Decision]


@pytest.fixture
def case_input() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "examples" / "case_study.json").read_text(encoding="utf-8"))
    return loaded


def answer_questions(record: ApprovalRecord) -> Decision:
    """The client writes an answer under the first question and presses Approve."""
    document = get_files().get_text(record.draft.body_key)
    answered = document.replace("Answer:", f"Answer: {ANSWER}", 1)
    return Decision(decision="approve", edited_body=answered)


def decider(**by_state: Decider | Decision) -> Decider:
    """Answer each approval by its ASL state; states not named are approved (answers: with answers)."""
    defaults: dict[str, Decider | Decision] = {
        "RequestAnswers": answer_questions,
        "RequestClientApproval": Decision(decision="approve", comment="accurate, thank you"),
        "RequestMarketingApproval": Decision(decision="approve"),
    }
    table = defaults | by_state

    def decide(record: ApprovalRecord) -> Decision:
        answer = table[record.state]
        return answer if isinstance(answer, Decision) else answer(record)

    return decide


def published_exists() -> bool:
    return get_files().exists(PUBLISHED_KEY)


def approval_records(runtime: LocalRuntime, execution_arn: str) -> dict[str, ApprovalRecord]:
    name = execution_arn.rsplit(":", 1)[-1]
    return {r.state: r for r in runtime.approvals().store.for_execution(name)}


def test_answered_and_approved_case_study_is_published_with_the_drafted_text_and_logged(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given a won deal in the CRM, when the client answers and both reviewers approve
    result = drive(runtime, "case_study", case_input, decider())

    # Then the run went through every step once and its output gives the s3 URI
    assert result.status == "SUCCEEDED"
    assert states(result) == HAPPY_PATH
    assert all(r.status == "SUCCEEDED" and r.attempts == 1 for r in result.timeline)
    assert result.output is not None
    assert result.output["status"] == "published"
    assert result.output["s3_uri"] == f"s3://stepwise-files/{PUBLISHED_KEY}"
    assert result.output["approved_by"] == [CLIENT, MARKETING]
    assert result.output["edited"] is False
    # and the published object is exactly the draft both reviewers approved
    records = approval_records(runtime, result.execution_arn)
    draft = get_files().get_text(records["RequestClientApproval"].draft.body_key)
    assert get_files().get_text(PUBLISHED_KEY) == draft
    assert (
        records["RequestMarketingApproval"].draft.body_sha256
        == records["RequestClientApproval"].draft.body_sha256
    )
    assert draft.startswith("# How Harborview Logistics put Stepwise Invoice Match to work")
    # the "at a glance" figures are the CRM's, placed by code, and the deal amount is not published
    assert "- Month end close days: 12 → 4" in draft
    assert "- Invoices matched automatically: 92%" in draft
    assert "42000" not in draft
    # the client's answer reached the drafting model (answered = the client edited the document)
    (draft_request,) = [r for r in offline_model().requests if r["tool_choice"]["name"] == "case_study_draft"]
    assert ANSWER in json.dumps(draft_request["messages"])
    assert '\\"answered\\": true' in json.dumps(draft_request["messages"])
    # the questions went to the client's CRM address, the reviews to the client and to marketing
    assert [e["to"] for e in runtime.outbox()] == [CLIENT, CLIENT, MARKETING]
    assert "Interview questions" in runtime.outbox()[0]["subject"]
    assert "1. How did your team handle this work" in runtime.outbox()[0]["body"]
    # and the CRM has the publication on the client's timeline
    (activity,) = activities("CS-100")
    assert activity.kind == "case_study_published"
    assert activity.details["s3_uri"] == result.output["s3_uri"]
    assert activity.details["deal_id"] == "CS-D-100"


def test_client_who_declines_the_interview_ends_declined_and_nothing_is_drafted(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    decide = decider(RequestAnswers=Decision(decision="reject", comment="we keep our projects private"))

    result = drive(runtime, "case_study", case_input, decide)

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "declined"
    assert "we keep our projects private" in result.output["detail"]
    assert states(result) == ["CollectFacts", "WriteQuestions", "RequestAnswers", "LogDeclined"]
    assert row(result, "RequestAnswers").status == "CAUGHT"
    assert not published_exists()
    assert [a.kind for a in activities("CS-100")] == ["case_study_declined"]
    assert not [r for r in offline_model().requests if r["tool_choice"]["name"] == "case_study_draft"]


def test_no_answers_before_the_deadline_reminds_then_expires_and_ends_no_answers(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given a run waiting for the client's answers
    arn = runtime.start("case_study", case_input)
    runtime.wait(arn, until="approval")
    (record,) = runtime.pending_approvals(arn.rsplit(":", 1)[-1])
    assert record.state == "RequestAnswers"
    assert record.approver == CLIENT
    service = runtime.approvals()

    # When a day passes, the sweeper's SLA ladder reminds the client with the same link
    created = record.created_at.replace("Z", "+00:00")
    report = service.sweep(
        datetime.fromisoformat(created) + timedelta(hours=25),
        lambda wf: WORKFLOWS[wf].approval_sla,
        get_email(),
        get_files(),
    )
    assert report.reminded == [record.approval_id]
    reminder = runtime.outbox()[-1]
    assert reminder["to"] == CLIENT
    assert reminder["subject"].startswith("Reminder: ")
    assert f"/approvals/{record.approval_id}?sig=" in reminder["body"]

    # and at the deadline nobody answered: the approval expires (ApprovalExpired resumes the run)
    assert service.expire(record)
    runtime.wait(arn)
    result = runtime.result(arn)

    # Then the compensation closed the interview and the run ended as designed
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "no_answers"
    assert states(result)[-3:] == ["RequestAnswers", "ExpireAnswers", "LogNoAnswers"]
    assert service.store.get(record.approval_id).status == "EXPIRED"  # type: ignore[union-attr]
    assert [a.kind for a in activities("CS-100")] == ["case_study_no_answers"]
    assert not published_exists()


def test_marketing_rejection_publishes_nothing_and_logs_who_rejected(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    decide = decider(RequestMarketingApproval=Decision(decision="reject", comment="off-brand headline"))

    result = drive(runtime, "case_study", case_input, decide)

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "rejected"
    assert "marketing" in result.output["detail"]
    assert "off-brand headline" in result.output["detail"]
    assert states(result)[-2:] == ["RequestMarketingApproval", "LogRejection"]
    assert "Publish" not in states(result)
    assert not published_exists()
    (activity,) = activities("CS-100")
    assert activity.kind == "case_study_rejected"
    assert activity.details["stage"] == "RequestMarketingApproval"


def test_client_rejection_of_the_draft_never_reaches_marketing(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    result = drive(
        runtime, "case_study", case_input, decider(RequestClientApproval=Decision(decision="reject"))
    )

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "rejected"
    assert "the client" in result.output["detail"]
    assert "RequestMarketingApproval" not in states(result)
    assert MARKETING not in [e["to"] for e in runtime.outbox()]
    assert not published_exists()


def test_review_nobody_decides_expires_with_the_default_reject(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given the client answered and approved, and marketing never decides
    arn = runtime.start("case_study", case_input)
    name = arn.rsplit(":", 1)[-1]
    decide = decider()
    while True:
        runtime.wait(arn, until="approval")
        (record,) = runtime.pending_approvals(name)
        if record.state == "RequestMarketingApproval":
            break
        runtime.decide(record, decide(record))

    # When the approval expires (the sweeper's deadline)
    assert runtime.approvals().expire(record)
    runtime.wait(arn)
    result = runtime.result(arn)

    # Then the run ends "expired" after the compensation, and nothing is published
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "expired"
    assert "marketing did not decide" in result.output["detail"]
    assert states(result)[-3:] == ["RequestMarketingApproval", "ExpireApproval", "LogRejection"]
    assert not published_exists()
    assert [a.kind for a in activities("CS-100")] == ["case_study_expired"]


def test_marketing_edits_are_what_gets_published(runtime: LocalRuntime, case_input: dict[str, Any]) -> None:
    edited_text: dict[str, str] = {}

    def edit(record: ApprovalRecord) -> Decision:
        body = get_files().get_text(record.draft.body_key)
        edited_text["body"] = body.replace("## Solution", "## What they did") + "\nEdited by marketing.\n"
        return Decision(decision="approve", edited_body=edited_text["body"], comment="tightened")

    result = drive(runtime, "case_study", case_input, decider(RequestMarketingApproval=edit))

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["edited"] is True
    published = get_files().get_text(PUBLISHED_KEY)
    assert published == edited_text["body"]
    assert "## What they did" in published
    record = approval_records(runtime, result.execution_arn)["RequestMarketingApproval"]
    assert record.edit_diff is not None
    assert "+## What they did" in record.edit_diff
    assert activities("CS-100")[0].details["edited"] is True


@pytest.mark.parametrize(
    ("deal_id", "contact_id", "why"),
    [("CS-D-300", "CS-300", "lost: chose a competitor"), ("CS-D-101", "CS-100", "outcome 'none'")],
)
def test_deal_that_was_not_won_is_not_eligible_and_nothing_happens(
    runtime: LocalRuntime, case_input: dict[str, Any], deal_id: str, contact_id: str, why: str
) -> None:
    result = drive(runtime, "case_study", {**case_input, "deal_id": deal_id, "contact_id": contact_id}, None)

    assert result.status == "SUCCEEDED"
    assert states(result) == ["CollectFacts", "NotEligible"]
    assert result.output is not None
    assert result.output["status"] == "not_eligible"
    assert result.output["deal_id"] == deal_id
    assert why in result.output["detail"]
    assert row(result, "CollectFacts").attempts == 1  # BusinessRuleError is not retried
    assert runtime.outbox() == []
    assert activities(contact_id) == []


def test_a_deal_whose_case_study_is_published_is_not_asked_about_again(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given the deal's case study was published by an earlier run
    first = drive(runtime, "case_study", case_input, decider())
    assert first.output is not None
    assert first.output["status"] == "published"
    sent = len(runtime.outbox())

    # When a second run is started for the same deal
    second = drive(runtime, "case_study", case_input, None)

    # Then it ends not eligible at the first step, naming the publication, and nobody is asked again
    assert states(second) == ["CollectFacts", "NotEligible"]
    assert second.output is not None
    assert second.output["status"] == "not_eligible"
    assert "already published" in second.output["detail"]
    assert first.output["s3_uri"] in second.output["detail"]
    assert len(runtime.outbox()) == sent


def _outcome(n: int, kind: str, **details: str | bool) -> Activity:
    return Activity(
        activity_id=f"a-{n}",
        contact_id="CS-100",
        kind=kind,
        summary=kind,
        at=f"2026-01-0{n}T00:00:00Z",
        details={"deal_id": "CS-D-100", **details},
    )


def test_a_publication_stands_until_a_failure_takes_it_down_whatever_ends_later() -> None:
    uri = "s3://stepwise-files/published/case-studies/harborview-logistics-cs-d-100.md"
    published = _outcome(1, "case_study_published", s3_uri=uri)
    # a later run that was rejected, or failed without unpublishing, does not hide the publication
    assert still_published([published, _outcome(2, "case_study_rejected")], "CS-D-100") == [uri]
    assert still_published([published, _outcome(2, "case_study_failed", unpublished=False)], "CS-D-100") == [
        uri
    ]
    # a failure that unpublished it does; another deal's publication never counts
    taken_down = _outcome(
        2,
        "case_study_failed",
        unpublished=True,
        unpublished_key="published/case-studies/harborview-logistics-cs-d-100.md",
    )
    assert still_published([published, taken_down], "CS-D-100") == []
    assert still_published([published], "CS-D-999") == []


def test_slugs_keep_the_whole_deal_id_when_the_company_name_is_long() -> None:
    company = (
        "The International Consolidated Shipping and Freight Forwarding Company of the Northern Atlantic"
    )
    first, second = case_study_slug(company * 2, "DEAL-0001"), case_study_slug(company * 2, "DEAL-0002")
    assert first != second
    assert first.endswith("-deal-0001")
    assert len(first) <= MAX_SLUG
    assert case_study_slug("Harborview Logistics", "CS-D-100") == "harborview-logistics-cs-d-100"


def test_deal_of_another_contact_fails_at_the_first_step_with_a_clear_cause(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    result = drive(runtime, "case_study", {**case_input, "deal_id": "CS-D-200"}, None)

    assert result.status == "FAILED"
    assert result.error == "InvalidInputError"
    assert result.cause is not None
    assert "deal CS-D-200 not found among the deals of CS-100" in result.cause
    assert runtime.outbox() == []


def test_transient_failures_are_retried_and_the_case_study_is_published_once(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given S3 throttles the first two publish attempts and Anthropic rate-limits the questions once
    runtime.dispatcher.inject("publish", "TransientIntegrationError", times=2)
    offline_model().script("case_study_questions", RateLimited(retry_after_s=0))

    result = drive(runtime, "case_study", case_input, decider())

    assert result.status == "SUCCEEDED"
    publish = row(result, "Publish")
    assert (publish.attempts, publish.status, publish.error) == (3, "SUCCEEDED", "TransientIntegrationError")
    questions = row(result, "WriteQuestions")
    assert (questions.attempts, questions.error) == (2, "LLMRateLimitError")
    assert published_exists()
    assert [a.kind for a in activities("CS-100")] == ["case_study_published"]


def test_crash_after_the_publish_is_retried_without_a_second_write(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given the publish Lambda writes the object, then dies before reporting (Lambda.Unknown)
    runtime.dispatcher.inject("publish", "Lambda.Unknown", times=1, when="after")

    result = drive(runtime, "case_study", case_input, decider())

    # Then the retry returns the stored result (run_once) and the run publishes once
    assert result.status == "SUCCEEDED"
    assert row(result, "Publish").attempts == 2
    assert result.output is not None
    assert result.output["s3_uri"] == f"s3://stepwise-files/{PUBLISHED_KEY}"


def test_permanent_crm_failure_after_publishing_unpublishes_and_fails_with_the_cause(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given the CRM refuses the publication's activity for good
    runtime.dispatcher.inject("LogPublished", "PermanentIntegrationError", times=1)

    result = drive(runtime, "case_study", case_input, decider())

    # Then the run FAILED with the original error and cause
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert result.cause is not None
    assert "LogPublished" in result.cause
    assert row(result, "LogPublished").attempts == 1
    # and the compensation ran: the published object is gone, and that is on the CRM timeline
    assert states(result)[-5:] == [
        "Publish",
        "LogPublished",
        "UnpublishAfterFailure",
        "RecordFailure",
        "CaseStudyFailed",
    ]
    assert not published_exists()
    (failure,) = activities("CS-100")
    assert failure.kind == "case_study_failed"
    assert "PermanentIntegrationError" in failure.summary
    assert f"deleted {PUBLISHED_KEY}" in failure.summary
    assert failure.details["unpublished"] is True


def test_unpublish_never_deletes_a_case_study_it_did_not_write(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # Given another case study already lives at the slug
    get_files().put_text(PUBLISHED_KEY, "# An earlier, hand-written case study\n")

    result = drive(runtime, "case_study", case_input, decider())

    # Then Publish refuses to overwrite it, the compensation leaves it alone, and the run fails clearly
    assert result.status == "FAILED"
    assert result.error == "BusinessRuleError"
    assert "already published" in (result.cause or "")
    assert get_files().get_text(PUBLISHED_KEY) == "# An earlier, hand-written case study\n"
    assert "left in place" in activities("CS-100")[0].summary


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"deal_id": "CS D 100; drop"}, {"deal_id"}),
        ({"marketing_approver": "not-an-address"}, {"marketing_approver"}),
        ({"product": "two\nlines"}, {"product"}),
        ({"product": "x" * 101}, {"product"}),
        ({"angle": "y" * 501}, {"angle"}),
        ({"unexpected": 1}, {"unexpected"}),
    ],
)
def test_invalid_input_is_refused_with_field_errors_and_starts_nothing(
    runtime: LocalRuntime, case_input: dict[str, Any], change: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(InputRejected) as refused:
        runtime.start("case_study", {**case_input, **change})

    assert {e["field"] for e in refused.value.errors} == fields
    machine = runtime.state_machines["case_study"]
    assert runtime.sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_missing_fields_are_refused_but_angle_and_the_approver_are_optional(
    runtime: LocalRuntime, case_input: dict[str, Any]
) -> None:
    # The approver directory fills marketing_approver when the request leaves it out (issue #19).
    with pytest.raises(InputRejected) as refused:
        runtime.start("case_study", {"angle": "only this"})
    assert {e["field"] for e in refused.value.errors} == {"deal_id", "contact_id", "product"}
    without_angle = {k: v for k, v in case_input.items() if k != "angle"}
    arn = runtime.start("case_study", without_angle)
    assert runtime.wait(arn, until="approval")["status"] == "RUNNING"


def test_cli_run_with_approve_publishes_and_exits_0() -> None:
    out = io.StringIO()
    code = cli_main(
        ["run", "case_study", "--input", str(ROOT / "examples" / "case_study.json"), "--decision", "approve"],
        out=out,
    )

    assert code == 0, out.getvalue()
    assert '"status": "published"' in out.getvalue()
