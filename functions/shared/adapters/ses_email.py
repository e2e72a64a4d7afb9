"""Email adapter on Amazon SES v2 (``sesv2.send_email`` with ``Content.Simple``).

moto implements ``sesv2.send_email`` by delegating to its SES v1 backend, so messages sent here show
up in ``moto.ses.models.ses_backends[account][region].sent_messages``, which the local runtime's
outbox (``ses_outbox.local_outbox``) reads. The sender identity must be verified (in moto too).
"""

from __future__ import annotations

import re
from typing import Any

from functions.shared.adapters.errors import aws_errors
from functions.shared.adapters.ses_outbox import record_sent
from functions.shared.aws import client
from functions.shared.ports.crm import utc_now_iso
from functions.shared.ports.email import OutgoingEmail, SentEmail

_CHARSET = "UTF-8"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TAG_MAX = 256


def ses_tag(value: str) -> str:
    """SES tag names/values allow only A-Z a-z 0-9 _ - (1..256 chars); replace anything else."""
    return _TAG_UNSAFE.sub("_", value)[:_TAG_MAX] or "_"


class SesEmail:
    """``EmailPort`` on SES v2; ``sender`` is ``settings().sender_email`` in the factory."""

    def __init__(self, sender: str, *, configuration_set: str | None = None) -> None:
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> SentEmail:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": _CHARSET},
                    "Body": {"Text": {"Data": email.body_text, "Charset": _CHARSET}},
                }
            },
            "EmailTags": [
                {"Name": ses_tag(name), "Value": ses_tag(value)} for name, value in sorted(email.tags.items())
            ],
        }
        if email.reply_to:
            request["ReplyToAddresses"] = [email.reply_to]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        with aws_errors("email.send"):
            response = client("sesv2").send_email(**request)
        sent = SentEmail(
            message_id=response["MessageId"], to=email.to, subject=email.subject, sent_at=utc_now_iso()
        )
        record_sent(sent.message_id, sent.sent_at)
        return sent
