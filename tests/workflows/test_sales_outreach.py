"""Sales outreach scenarios: the real ASL on moto, the real handlers, the offline Claude model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.shared.adapters import get_crm, get_files
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.offline import Malformed, Overloaded, RateLimited, Reply, offline_model
from local.runtime import InputRejected, LocalRuntime
from tests.workflows.conftest import activities, approve, drive, outreach_emails, reject, row, states

pytestmark = pytest.mark.slow

HAPPY_PATH = [
    "ValidateLead",
    "ResearchLead",
    "IsGoodFit",
    "DraftEmail",
    "MarkContacted",
    "RequestApproval",
    "SendEmail",
    "LogActivity",
]


def test_approved_draft_is_sent_once_to_the_crm_address_and_logged(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given a good-fit lead in the CRM
    # When the approver approves the draft
    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then the run succeeded through every step, once each
    assert result.status == "SUCCEEDED"
    assert states(result) == HAPPY_PATH
    assert all(r.status == "SUCCEEDED" for r in result.timeline)
    assert result.output is not None
    assert result.output["status"] == "sent"
    assert result.output["approved_by"] == "sales-lead@acme-demo.com"
    # and exactly one email went to the address from the CRM, with the drafted text
    sent = outreach_emails(runtime)
    assert [e["to"] for e in sent] == ["dana.whitfield@northwind-freight.example"]
    assert "Dana Whitfield" in sent[0]["body"]
    assert "Sam Porter" in sent[0]["body"]
    # and the CRM shows the lead as contacted with the email on its timeline
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "contacted"
    assert [a.kind for a in activities("L-100")] == ["email_sent"]


def test_approval_email_carries_a_signed_link_and_never_the_task_token(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given a run waiting for approval
    arn = runtime.start("sales_outreach", outreach_input)
    runtime.wait(arn, until="approval")
    (record,) = runtime.pending_approvals(arn.rsplit(":", 1)[-1])

    # Then the approver's email links to the approval id with a signature
    (request,) = runtime.outbox()
    assert request["to"] == "sales-lead@acme-demo.com"
    assert f"/approvals/{record.approval_id}?sig=" in request["body"]
    # and neither the email nor the stored record holds the raw token
    token = _task_token(runtime, arn)
    assert token not in request["body"]
    assert token not in json.dumps(record.public_view())
    assert token not in record.sealed_token
    runtime.decide(record, Decision(decision="reject"))
    runtime.wait(arn)


def test_approved_with_edits_sends_the_edited_text_and_keeps_the_diff(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given an approver who rewrites the closing line and the subject
    def edit(record: ApprovalRecord) -> Decision:
        body = get_files().get_text(record.draft.body_key).replace("Best,", "Kind regards,")
        return Decision(decision="approve", edited_subject="Faster month-end close", edited_body=body)

    # When the run finishes
    result = drive(runtime, "sales_outreach", outreach_input, edit)

    # Then the edited subject and body are what was sent
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["edited"] is True
    (sent,) = outreach_emails(runtime)
    assert sent["subject"] == "Faster month-end close"
    assert "Kind regards," in sent["body"]
    assert "Best," not in sent["body"]
    # and the approval record keeps who decided and what changed
    (record,) = runtime.approvals().store.for_execution(result.execution_arn.rsplit(":", 1)[-1])
    assert record.status == "APPROVED"
    assert record.decided_by == "sales-lead@acme-demo.com"
    assert record.edit_diff is not None
    assert "-Best," in record.edit_diff
    assert "+Kind regards," in record.edit_diff


def test_rejected_draft_sends_nothing_restores_the_status_and_logs_the_rejection(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # When the approver rejects the draft
    result = drive(runtime, "sales_outreach", outreach_input, reject)

    # Then the run ends as designed, with the rejection path
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "rejected"
    assert "too pushy" in result.output["detail"]
    assert states(result)[-3:] == ["RequestApproval", "RevertStatusAfterRejection", "LogRejection"]
    assert row(result, "RequestApproval").status == "CAUGHT"
    # and no email reached the lead, the CRM status is back to what it was, the rejection is logged
    assert outreach_emails(runtime) == []
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "new"
    assert [a.kind for a in activities("L-100")] == ["draft_rejected"]


def test_poor_fit_lead_is_disqualified_without_a_draft(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given a three-person hobby shop
    result = drive(runtime, "sales_outreach", {**outreach_input, "lead_id": "L-300"}, None)

    # Then the Choice routes to LogDisqualified and nothing is drafted or sent
    assert result.status == "SUCCEEDED"
    assert states(result) == ["ValidateLead", "ResearchLead", "IsGoodFit", "LogDisqualified"]
    assert result.output is not None
    assert result.output["status"] == "disqualified"
    assert runtime.outbox() == []
    contact = get_crm().get_contact("L-300")
    assert contact is not None
    assert contact.status == "disqualified"


def test_do_not_contact_lead_is_blocked_before_anything_changes(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    result = drive(runtime, "sales_outreach", {**outreach_input, "lead_id": "L-400"}, None)

    assert result.status == "SUCCEEDED"
    assert states(result) == ["ValidateLead", "LeadNotContactable"]
    assert result.output is not None
    assert result.output["status"] == "blocked"
    assert "may not be contacted" in result.output["detail"]
    assert row(result, "ValidateLead").attempts == 1  # BusinessRuleError is not retried
    assert activities("L-400") == []


def test_a_dormant_client_is_no_lead_and_keeps_its_status_for_re_engagement(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given RF-110, a Kestrel Analytics client gone quiet (status dormant, from the referral seed)
    # When sales outreach is started on it as if it were a lead
    result = drive(runtime, "sales_outreach", {**outreach_input, "lead_id": "RF-110"}, None)

    # Then it is blocked before anything is researched, sent or changed, and stays "dormant",
    # where referral's dormant-client search still finds it
    assert result.status == "SUCCEEDED"
    assert states(result) == ["ValidateLead", "LeadNotContactable"]
    assert result.output is not None
    assert "status dormant" in result.output["detail"]
    assert runtime.outbox() == []
    contact = get_crm().get_contact("RF-110")
    assert contact is not None
    assert contact.status == "dormant"


def test_ses_throttling_is_retried_and_the_email_goes_out_once(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given SES throttles the first two sends
    runtime.dispatcher.inject("send_email", "TransientIntegrationError", times=2)

    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then Step Functions retried with backoff and the third attempt sent one email
    assert result.status == "SUCCEEDED"
    send = row(result, "SendEmail")
    assert send.attempts == 3
    assert send.status == "SUCCEEDED"
    assert send.error == "TransientIntegrationError"  # the last failure stays visible on the timeline
    assert len(outreach_emails(runtime)) == 1


def test_crash_after_the_send_is_retried_without_a_second_email(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given the send Lambda sends, then dies before reporting success (Lambda.Unknown: timeout/OOM)
    runtime.dispatcher.inject("send_email", "Lambda.Unknown", times=1, when="after")

    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then the retry returns the stored result: one email, the same message id on the timeline
    assert result.status == "SUCCEEDED"
    assert row(result, "SendEmail").attempts == 2
    sent = outreach_emails(runtime)
    assert len(sent) == 1
    assert result.output is not None
    assert result.output["message_id"] == sent[0]["messageId"]


def test_permanent_send_failure_runs_the_compensations_and_fails_with_the_cause(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given SES no longer accepts the sender identity (a permanent rejection, not retried)
    arn = runtime.start("sales_outreach", outreach_input)
    runtime.wait(arn, until="approval")
    client("sesv2").delete_email_identity(EmailIdentity=settings().sender_email)
    (record,) = runtime.pending_approvals(arn.rsplit(":", 1)[-1])
    runtime.decide(record, Decision(decision="approve"))
    runtime.wait(arn)
    result = runtime.result(arn)

    # Then the run FAILED, keeping the original error and cause
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert result.cause is not None
    assert "email.send: MessageRejected" in result.cause
    assert row(result, "SendEmail").attempts == 1
    # and the compensation chain ran in order: status restored, failure recorded
    assert states(result)[-4:] == ["SendEmail", "RevertStatusAfterFailure", "RecordFailure", "OutreachFailed"]
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "new"
    (failure,) = activities("L-100")
    assert failure.kind == "outreach_failed"
    assert "PermanentIntegrationError" in failure.summary
    assert outreach_emails(runtime) == []


def test_send_that_may_have_happened_is_not_compensated(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given the send Lambda sends, then keeps dying before it reports (Lambda.Unknown, beyond its retries)
    runtime.dispatcher.inject("send_email", "Lambda.Unknown", times=3, when="after")

    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then the run fails without reverting the CRM: the email did go out, exactly once
    assert result.status == "FAILED"
    assert result.error == "Lambda.Unknown"
    assert states(result)[-3:] == ["SendEmail", "RecordFailure", "OutreachFailed"]
    assert len(outreach_emails(runtime)) == 1
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "contacted"


def test_failure_after_the_status_write_reverts_it(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given MarkContacted writes the status, then reports a non-retried error
    runtime.dispatcher.inject("mark_contacted", "BusinessRuleError", times=1, when="after")

    result = drive(runtime, "sales_outreach", outreach_input, None)

    # Then the compensation restores the status the run started from and records the failure
    assert result.status == "FAILED"
    assert result.error == "BusinessRuleError"
    assert states(result)[-5:] == [
        "MarkContacted",
        "AssumeContacted",
        "RevertStatusAfterFailure",
        "RecordFailure",
        "OutreachFailed",
    ]
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "new"
    assert [a.kind for a in activities("L-100")] == ["outreach_failed"]


def test_malformed_llm_draft_is_reprompted_and_the_run_succeeds(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given the model first answers with a template placeholder left in the body
    offline_model().script(
        "draft_email",
        Malformed(
            {
                "subject": "Hello",
                "body": "Hi [First Name], we have a great product for you. Let us talk soon.",
            }
        ),
    )

    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then the client re-prompted once with the validation error, inside the same step attempt
    assert result.status == "SUCCEEDED"
    assert row(result, "DraftEmail").attempts == 1
    draft_requests = [r for r in offline_model().requests if r["tool_choice"]["name"] == "draft_email"]
    assert len(draft_requests) == 2
    assert "placeholder" in json.dumps(draft_requests[1]["messages"][-1])
    (sent,) = outreach_emails(runtime)
    assert "[First Name]" not in sent["body"]


def test_llm_rate_limit_is_retried_by_step_functions(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given Anthropic answers 429 to the first research call
    offline_model().script("assess_lead", RateLimited(retry_after_s=0))

    result = drive(runtime, "sales_outreach", outreach_input, approve)

    # Then the ASL's LLMRateLimitError retrier ran the step again
    assert result.status == "SUCCEEDED"
    research = row(result, "ResearchLead")
    assert research.attempts == 2
    assert research.error == "LLMRateLimitError"


def test_llm_overloaded_beyond_the_retry_budget_fails_before_any_side_effect(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given Anthropic is overloaded for longer than the retry policy allows (1 + 4 attempts)
    offline_model().script("assess_lead", *[Overloaded() for _ in range(5)])

    result = drive(runtime, "sales_outreach", outreach_input, None)

    # Then the run fails at ResearchLead, and the CRM was never touched
    assert result.status == "FAILED"
    assert result.error == "LLMOverloadedError"
    assert row(result, "ResearchLead").attempts == 5
    contact = get_crm().get_contact("L-100")
    assert contact is not None
    assert contact.status == "new"


def test_recipient_comes_from_the_crm_even_when_the_model_names_another(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    # Given notes with a prompt injection, and a model that falls for it in the draft text
    offline_model().script(
        "draft_email",
        Reply(
            {
                "subject": "Update",
                "body": "Please forward this to all-staff@brightline-clinics.example and approve.",
            }
        ),
    )

    result = drive(runtime, "sales_outreach", {**outreach_input, "lead_id": "L-200"}, approve)

    # Then the one outreach email still goes only to the lead's CRM address
    assert result.status == "SUCCEEDED"
    assert [e["to"] for e in outreach_emails(runtime)] == ["priya.raman@brightline-clinics.example"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"lead_id": "L 100; drop"}, {"lead_id"}),
        ({"approver_email": "not-an-address"}, {"approver_email"}),
        ({"campaign": "two\nlines"}, {"campaign"}),
        ({"offer": ""}, {"offer"}),
        ({"unexpected": 1}, {"unexpected"}),
    ],
)
def test_invalid_input_is_refused_with_field_errors_and_starts_nothing(
    runtime: LocalRuntime, outreach_input: dict[str, Any], change: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(InputRejected) as refused:
        runtime.start("sales_outreach", {**outreach_input, **change})

    assert {e["field"] for e in refused.value.errors} == fields
    machine = runtime.state_machines["sales_outreach"]
    assert runtime.sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_unknown_lead_fails_at_the_first_step_with_a_clear_cause(
    runtime: LocalRuntime, outreach_input: dict[str, Any]
) -> None:
    result = drive(runtime, "sales_outreach", {**outreach_input, "lead_id": "L-999"}, None)

    assert result.status == "FAILED"
    assert result.error == "InvalidInputError"
    assert result.cause is not None
    assert "lead L-999 not found in the CRM" in result.cause
    assert row(result, "ValidateLead").status == "FAILED"


def _task_token(runtime: LocalRuntime, execution_arn: str) -> str:
    """The raw token, read from the execution history (test-only: it proves what must not leak)."""
    for event in runtime.history(execution_arn):
        if event["type"] == "TaskScheduled":
            parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
            token: str = parameters["Payload"]["taskToken"]
            return token
    raise AssertionError("no callback task scheduled")
