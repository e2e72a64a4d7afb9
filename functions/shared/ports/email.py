"""Email port: send one plain-text email.

Adapters: ``functions.shared.adapters.ses_email.SesEmail`` and ``memory.InMemoryEmail``.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.shared.ports.crm import EmailAddress, IsoTimestamp

# Control characters other than TAB; CR/LF in a header would allow header injection.
_HEADER_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class OutgoingEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: EmailAddress
    subject: str = Field(min_length=1, max_length=200)
    body_text: str = Field(min_length=1)
    reply_to: EmailAddress | None = None
    #: Delivery-event labels (kind, workflow, trace id). SES only takes A-Z a-z 0-9 _ - (<= 256 chars):
    #: the SES adapter replaces any other character with "_", so a tag never makes a send fail.
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("subject")
    @classmethod
    def _single_line_subject(cls, value: str) -> str:
        if _HEADER_FORBIDDEN.search(value):
            raise ValueError("subject must be one line without control characters (no CR/LF)")
        return value


class SentEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str
    to: str
    subject: str
    sent_at: IsoTimestamp


@runtime_checkable
class EmailPort(Protocol):
    def send(self, email: OutgoingEmail) -> SentEmail:
        """Send now. Not idempotent by itself: callers guard it with an idempotency key.

        Raises ``PermanentIntegrationError`` when the provider refuses the message (unverified
        sender, rejected address) and ``TransientIntegrationError`` on throttling / outages.
        """
        ...
