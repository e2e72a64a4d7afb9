"""The per-stage settings a deployment must be given (CDK context), checked before anything is built.

``senderEmail``, ``escalationApprover``, ``approvers`` (the approver directory, a JSON object,
written to one SSM parameter per workflow, each at most 4 KB) and optionally
``approvalLinkBaseUrl`` (a custom domain for approval links) come from ``cdk deploy -c <key>=...``
or cdk.json. Outside the ``local`` stage a missing value, an address in a reserved example domain
(in the directory too: every default, allowed and escalation address) or a link base on this
machine refuses synthesis with an error naming the context key: the functions would refuse them
at cold start anyway (``functions/shared/config.py``, ``functions/shared/approvers.py``, same
checks), and a deploy that cannot work should not start. A local stage without ``approvers``
uses examples/approvers.json.
``apiClients`` (``name → {owner, scopes}``, ``infra/auth.py``) fails closed the same way: an API
nobody can call is a mistake, not a secure default; locally, examples/api_clients.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Node
from pydantic import ValidationError

from functions.shared.api_clients import ClientDirectory, local_directory
from functions.shared.approvers import LOCAL_FILE, ApproverDirectory
from functions.shared.config import LOCAL_STAGE, is_local_url, is_placeholder_email
from infra import constants


@dataclass(frozen=True)
class StageContext:
    sender_email: str
    escalation_approver: str
    #: ``None``: the API's own stage URL (known at deploy time only).
    approval_link_base_url: str | None
    #: The approver directory as compact JSON (``STEPWISE_APPROVERS`` of every function).
    approvers: str
    #: The API's machine clients (``infra/auth.py``): one Cognito app client each.
    api_clients: ClientDirectory


class StageContextError(ValueError):
    """A non-local stage was synthesized without real per-stage settings."""


def read_stage_context(node: Node, stage: str) -> StageContext:
    def value(key: str) -> str | None:
        raw = node.try_get_context(key)
        return str(raw).strip() if raw not in (None, "") else None

    sender = value(constants.SENDER_EMAIL_CONTEXT_KEY)
    escalation = value(constants.ESCALATION_APPROVER_CONTEXT_KEY)
    link_base = value(constants.APPROVAL_LINK_BASE_URL_CONTEXT_KEY)
    raw_directory = node.try_get_context(constants.APPROVERS_CONTEXT_KEY)
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
        if raw_directory in (None, ""):
            problems.append(
                f"context {constants.APPROVERS_CONTEXT_KEY!r} is missing: the approver directory is"
                f" needed (cdk deploy -c {constants.APPROVERS_CONTEXT_KEY}='{{...}}' or cdk.json;"
                f" shape: {LOCAL_FILE.name} in examples/)"
            )
        else:
            problems += _placeholder_approvers(_approvers(raw_directory, stage))
        if node.try_get_context(constants.API_CLIENTS_CONTEXT_KEY) in (None, "", {}):
            problems.append(
                f"context {constants.API_CLIENTS_CONTEXT_KEY!r} is missing: the API's clients are needed"
                f" (name → {{owner, scopes}}; cdk deploy -c {constants.API_CLIENTS_CONTEXT_KEY}='{{...}}' or"
                " cdk.json; shape: api_clients.json in examples/)"
            )
        if problems:
            raise StageContextError(f"stage {stage!r} cannot be synthesized: " + "; ".join(problems))
    directory = _approvers(raw_directory, stage)
    _check_parameter_sizes(directory, stage)
    return StageContext(
        sender_email=sender or constants.DEFAULT_SENDER_EMAIL,
        escalation_approver=escalation or constants.DEFAULT_ESCALATION_APPROVER,
        approval_link_base_url=link_base,
        approvers=directory.model_dump_json(),
        api_clients=_api_clients(node.try_get_context(constants.API_CLIENTS_CONTEXT_KEY), stage),
    )


def _api_clients(raw: Any, stage: str) -> ClientDirectory:
    """The API clients from the context (an object, or its JSON text from ``-c``); a local stage
    without any gets the repository's example file."""
    try:
        if raw in (None, "", {}):
            return local_directory()
        return ClientDirectory.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, ValidationError) as exc:
        raise StageContextError(
            f"stage {stage!r}: context {constants.API_CLIENTS_CONTEXT_KEY!r} is not a client list: {exc}"
        ) from exc


def _approvers(raw: Any, stage: str) -> ApproverDirectory:
    """The directory from the context (an object, or its JSON text from ``-c``), validated; a local
    stage without one gets the repository's example file."""
    key = constants.APPROVERS_CONTEXT_KEY
    try:
        if raw in (None, ""):
            return ApproverDirectory.model_validate_json(LOCAL_FILE.read_text(encoding="utf-8"))
        return ApproverDirectory.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, ValidationError) as exc:
        raise StageContextError(
            f"stage {stage!r}: context {key!r} is not an approver directory: {exc}"
        ) from exc


def _placeholder_approvers(directory: ApproverDirectory) -> list[str]:
    """Addresses at reserved names (RFC 2606/6761) in a cloud stage's directory: no mailbox behind
    them, so an approval (or escalation) sent there is one nobody can decide."""
    placeholders = sorted(a for a in directory.addresses() if is_placeholder_email(a))
    if not placeholders:
        return []
    return [
        f"context {constants.APPROVERS_CONTEXT_KEY!r} names placeholder addresses no mail reaches:"
        f" {', '.join(placeholders)} (reserved domains are for the local stage only)"
    ]


def _check_parameter_sizes(directory: ApproverDirectory, stage: str) -> None:
    """Each workflow's part becomes one Standard-tier SSM parameter, whose value is capped at 4 KB."""
    too_big = {
        workflow: len(value.encode("utf-8"))
        for workflow, value in directory.sections().items()
        if len(value.encode("utf-8")) > constants.SSM_STANDARD_VALUE_LIMIT
    }
    if too_big:
        sizes = ", ".join(f"{w}: {n} bytes" for w, n in sorted(too_big.items()))
        raise StageContextError(
            f"stage {stage!r}: context {constants.APPROVERS_CONTEXT_KEY!r} is too large for SSM Standard"
            f" parameters (at most {constants.SSM_STANDARD_VALUE_LIMIT} bytes per workflow): {sizes};"
            " shorten the allowed lists, or share addresses across tiers less"
        )
