"""Email port: SesEmail on moto's SES v2 (read back through the local outbox) and the model guards."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from pydantic import ValidationError

from functions.shared.adapters import get_email
from functions.shared.adapters.ses_email import SesEmail, ses_tag
from functions.shared.adapters.ses_outbox import local_outbox
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import PermanentIntegrationError, TransientIntegrationError
from functions.shared.ports.email import EmailPort, OutgoingEmail


def make_email(**changes: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "to": "ada@example.com",
        "subject": "Engines, briefly",
        "body_text": "Hello Ada,\n\nShall we talk about engines?\n",
        "tags": {"kind": "outreach", "workflow": "sales_outreach"},
    }
    return OutgoingEmail(**(values | changes))


def test_sent_email_is_visible_in_the_local_outbox(moto_aws: None) -> None:
    # Given the email port built from settings (sender verified in moto)
    email = get_email()

    # When an email is sent
    sent = email.send(make_email(reply_to="sales@stepwise.example"))

    # Then the outbox shows it with recipient, subject, body and the send time
    assert isinstance(email, EmailPort)
    assert local_outbox() == [
        {
            "messageId": sent.message_id,
            "to": "ada@example.com",
            "subject": "Engines, briefly",
            "body": "Hello Ada,\n\nShall we talk about engines?\n",
            "sentAt": sent.sent_at,
        }
    ]
    assert (sent.to, sent.subject) == ("ada@example.com", "Engines, briefly")


def test_outbox_keeps_send_order(moto_aws: None) -> None:
    # Given two emails sent one after the other
    email = get_email()
    email.send(make_email(subject="first"))
    email.send(make_email(subject="second", to="grace@example.com"))

    # When the outbox is read
    outbox = local_outbox()

    # Then it lists them oldest first
    assert [(m["to"], m["subject"]) for m in outbox] == [
        ("ada@example.com", "first"),
        ("grace@example.com", "second"),
    ]


def test_unverified_sender_is_a_permanent_error(moto_aws: None) -> None:
    # Given a sender identity SES does not know
    email = SesEmail(sender="stranger@elsewhere.example")

    # When / Then sending is refused for good, and nothing reaches the outbox
    with pytest.raises(PermanentIntegrationError, match=r"^email.send: MessageRejected: "):
        email.send(make_email())
    assert local_outbox() == []


def test_ses_throttling_is_a_transient_error(moto_aws: None) -> None:
    # Given SES v2 throttles the next call
    email = SesEmail(sender=settings().sender_email)
    with Stubber(client("sesv2")) as stub:
        stub.add_client_error(
            "send_email", service_error_code="TooManyRequestsException", http_status_code=429
        )

        # When / Then the send fails with a retryable error
        with pytest.raises(TransientIntegrationError, match=r"^email.send: TooManyRequestsException"):
            email.send(make_email())


def test_send_request_uses_sesv2_simple_content_and_safe_tags(moto_aws: None) -> None:
    # Given the exact SES v2 request the adapter must make (tag values SES would refuse are cleaned)
    email = SesEmail(sender=settings().sender_email)
    expected = {
        "FromEmailAddress": settings().sender_email,
        "Destination": {"ToAddresses": ["ada@example.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "Engines, briefly", "Charset": "UTF-8"},
                "Body": {"Text": {"Data": ANY, "Charset": "UTF-8"}},
            }
        },
        "EmailTags": [{"Name": "kind", "Value": "outreach"}, {"Name": "trace_id", "Value": "run_1_2024"}],
    }
    with Stubber(client("sesv2")) as stub:
        stub.add_response("send_email", {"MessageId": "m-1"}, expected)

        # When an email tagged with a trace id containing "." and ":" is sent
        sent = email.send(make_email(tags={"trace_id": "run.1:2024", "kind": "outreach"}))

        # Then the stubbed request matched and the message id comes back
        stub.assert_no_pending_responses()
    assert sent.message_id == "m-1"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [("outreach", "outreach"), ("run.1:2024", "run_1_2024"), ("", "_"), ("x" * 300, "x" * 256)],
)
def test_ses_tag_values_are_cleaned(raw: str, cleaned: str) -> None:
    # Given / When / Then
    assert ses_tag(raw) == cleaned


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": "Hello\r\nBcc: everyone@example.com"}, id="subject-crlf-injection"),
        pytest.param({"subject": "Hello\nthere"}, id="subject-lf"),
        pytest.param({"subject": ""}, id="subject-empty"),
        pytest.param({"subject": "x" * 201}, id="subject-too-long"),
        pytest.param({"to": "ada@example.com\r\nBcc: x@example.com"}, id="to-injection"),
        pytest.param({"to": "not-an-address"}, id="to-invalid"),
        pytest.param({"reply_to": "nobody"}, id="reply-to-invalid"),
        pytest.param({"body_text": ""}, id="body-empty"),
    ],
)
def test_outgoing_email_rejects_unsafe_fields(changes: dict[str, Any]) -> None:
    # Given / When / Then: the model refuses the email before any adapter sees it
    with pytest.raises(ValidationError):
        make_email(**changes)


def test_outgoing_email_accepts_a_200_char_subject() -> None:
    # Given / When a subject at the limit
    email = make_email(subject="x" * 200)

    # Then it is accepted
    assert len(email.subject) == 200
