"""The per-stage settings a deployment must be given (CDK context), checked before anything is built.

``senderEmail`` and ``escalationApprover`` (and optionally ``approvalLinkBaseUrl``, a custom domain
for approval links) come from ``cdk deploy -c <key>=...`` or cdk.json. Outside the ``local`` stage a
missing value, an address in a reserved example domain or a link base on this machine refuses
synthesis with an error naming the context key: the functions would refuse them at cold start
anyway (``functions/shared/config.py``, same checks), and a deploy that cannot work should not start.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Node

from functions.shared.config import LOCAL_STAGE, is_local_url, is_placeholder_email
from infra import constants


@dataclass(frozen=True)
class StageContext:
    sender_email: str
    escalation_approver: str
    #: ``None``: the API's own stage URL (known at deploy time only).
    approval_link_base_url: str | None


class StageContextError(ValueError):
    """A non-local stage was synthesized without real per-stage settings."""


def read_stage_context(node: Node, stage: str) -> StageContext:
    def value(key: str) -> str | None:
        raw = node.try_get_context(key)
        return str(raw).strip() if raw not in (None, "") else None

    sender = value(constants.SENDER_EMAIL_CONTEXT_KEY)
    escalation = value(constants.ESCALATION_APPROVER_CONTEXT_KEY)
    link_base = value(constants.APPROVAL_LINK_BASE_URL_CONTEXT_KEY)
    if stage != LOCAL_STAGE:
        problems = [
            f"context {key!r} is {given!r}: a real address is needed (cdk deploy -c {key}=... or cdk.json)"
            for key, given in (
                (constants.SENDER_EMAIL_CONTEXT_KEY, sender),
                (constants.ESCALATION_APPROVER_CONTEXT_KEY, escalation),
            )
            if given is None or is_placeholder_email(given)
        ]
        if link_base is not None and is_local_url(link_base):
            problems.append(
                f"context {constants.APPROVAL_LINK_BASE_URL_CONTEXT_KEY!r} is {link_base!r}: approval links"
                f" must open from an approver's mailbox (-c {constants.APPROVAL_LINK_BASE_URL_CONTEXT_KEY}=https://..."
                " for a custom domain, or unset for the API's own URL)"
            )
        if problems:
            raise StageContextError(f"stage {stage!r} cannot be synthesized: " + "; ".join(problems))
    return StageContext(
        sender_email=sender or constants.DEFAULT_SENDER_EMAIL,
        escalation_approver=escalation or constants.DEFAULT_ESCALATION_APPROVER,
        approval_link_base_url=link_base,
    )
