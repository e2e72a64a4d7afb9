"""Send an approved draft exactly once: the irreversible end of every approval-gated email.

The text comes from file storage and must still hash to what the approver saw; the recipient
comes from the caller (a system of record, never model text). ``run_once`` keys the send on
(step, business action) and pins the recipient, so a retried invocation or a rerun of the same
business action after a successful send returns the first result and sends nothing (a rerun's new
draft of the same action is not sent). The send is the last thing done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel

from functions.shared.business_keys import ActionKey
from functions.shared.errors import PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext

SentT = TypeVar("SentT", bound=BaseModel)


class ApprovedDraft(Protocol):
    """What an approval hands back: the text's key, its hash and the subject."""

    @property
    def subject(self) -> str: ...
    @property
    def body_key(self) -> str: ...
    @property
    def body_sha256(self) -> str: ...


def send_approved_draft(
    *,
    draft: ApprovedDraft,
    to: str,
    kind: str,
    key: ActionKey,
    result_model: type[SentT],
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
    subject: str | None = None,
    what: str = "draft",
    precondition: Callable[[], None] | None = None,
) -> SentT:
    """Send ``draft`` to ``to`` once; ``result_model`` has message_id, to, subject, body_sha256, sent_at.

    ``precondition`` (raises to refuse) is checked only before the first send: a replay of a send
    that happened returns its result even if the world moved on since (e.g. a compensation).
    """
    body = files.get_text(draft.body_key)
    body_sha = sha256_text(body)
    if body_sha != draft.body_sha256:
        raise PermanentIntegrationError(f"{what} {draft.body_key} changed after it was approved")

    def send() -> SentT:
        if precondition is not None:
            precondition()
        sent = email.send(
            OutgoingEmail(
                to=to,
                subject=subject or draft.subject,
                body_text=body,
                tags={"kind": kind, "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return result_model(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            body_sha256=body_sha,
            sent_at=sent.sent_at,
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=key,
        pinned={"to": to},
        result_model=result_model,
        effect=send,
    )
