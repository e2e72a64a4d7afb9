"""Read what was "sent" through moto's SES: the local runtime's outbox and the tests' assertions.

Only for local use and tests. ``local_outbox`` imports moto lazily inside the function, so importing
this module (which ``ses_email`` does, for ``record_sent``) never loads moto in a Lambda.

moto does not store a send time, so ``SesEmail`` records ``message_id → sent_at`` here (a small
bounded map, so a warm Lambda does not grow it without end); messages sent by other means report
``sentAt = None``.
"""

from __future__ import annotations

import email
import os
from collections import OrderedDict
from email.message import Message
from typing import Any

_MAX_REMEMBERED = 1000
_SENT_AT: OrderedDict[str, str] = OrderedDict()


def record_sent(message_id: str, sent_at: str) -> None:
    """Remember when ``message_id`` was sent (called by ``SesEmail.send``)."""
    _SENT_AT[message_id] = sent_at
    while len(_SENT_AT) > _MAX_REMEMBERED:
        _SENT_AT.popitem(last=False)


def local_outbox(*, region: str | None = None, account_id: str | None = None) -> list[dict[str, Any]]:
    """Messages in moto's SES backend, oldest first: ``{"messageId","to","subject","body","sentAt"}``.

    ``to`` joins the To addresses with ", ". Region defaults like ``functions.shared.aws.client``;
    the account defaults to moto's default account (``MOTO_ACCOUNT_ID`` or 123456789012).
    Templated messages are skipped (Stepwise does not send them).
    """
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    account_id = account_id or os.environ.get("MOTO_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID
    backend = ses_backends[account_id][region]
    outbox: list[dict[str, Any]] = []
    for message in backend.sent_messages:
        if isinstance(message, RawMessage):
            parsed = email.message_from_string(message.raw_data)
            to, subject, body = parsed.get("To", ""), parsed.get("Subject", ""), _raw_text_body(parsed)
        elif hasattr(message, "subject") and hasattr(message, "body"):
            to = ", ".join(message.destinations.get("ToAddresses", []))
            subject, body = message.subject, message.body
        else:
            continue
        outbox.append(
            {
                "messageId": message.id,
                "to": to,
                "subject": subject,
                "body": body,
                "sentAt": _SENT_AT.get(message.id),
            }
        )
    return outbox


def _raw_text_body(parsed: Message) -> str:
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""
