"""Preflight of the approver directory: can SES deliver to every address it names, here?

An approval sent to an address SES refuses is a run stuck until its SLA expires: in the SES
sandbox every recipient must be a verified identity (the address, or its domain), so each directory
address (defaults, allowed, escalation chains) is checked and the missing ones named with the
command that verifies them. With production access SES mails anyone; a directory domain that is
not a verified identity of this account is then only a warning (a typo there is a silent outage).
The directory is the one ``cdk deploy`` would write to SSM: the context's ``approvers``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from functions.shared.approvers import CONTEXT_KEY, LOCAL_FILE, ApproverDirectory
from functions.shared.config import is_placeholder_email
from local.preflight import Check, Client, Target, verification_statuses

NAME = "approver directory"


def directory_from_context(context: Mapping[str, str]) -> ApproverDirectory | str:
    """The context's directory, or why there is none (a sentence)."""
    raw = context.get(CONTEXT_KEY, "").strip()
    if not raw:
        return f"context {CONTEXT_KEY!r} not set"
    try:
        return ApproverDirectory.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        return f"context {CONTEXT_KEY!r} is not an approver directory: {exc}"


def check_approver_directory(
    ses: Client, context: Mapping[str, str], target: Target, *, in_sandbox: bool | None, unknown_why: str = ""
) -> Check:
    """One ``Check``: the directory parses, names no placeholder, and SES can deliver to it."""
    fix_context = (
        f"-c {CONTEXT_KEY}='{{...}}' (or \"{CONTEXT_KEY}\" in cdk.json's context), shaped like"
        f" examples/{LOCAL_FILE.name}, to both preflight and cdk deploy"
    )
    directory = directory_from_context(context)
    if isinstance(directory, str):
        return Check(NAME, "FAIL", directory, fix_context)
    addresses = sorted(directory.addresses())
    placeholders = [a for a in addresses if is_placeholder_email(a)]
    if placeholders:
        return Check(
            NAME, "FAIL", f"placeholder addresses (no mailbox): {', '.join(placeholders)}", fix_context
        )
    if in_sandbox is False:
        return _out_of_sandbox(ses, addresses, target)
    return _sandbox(ses, addresses, target, in_sandbox=in_sandbox, unknown_why=unknown_why)


def _sandbox(
    ses: Client, addresses: list[str], target: Target, *, in_sandbox: bool | None, unknown_why: str
) -> Check:
    """In the sandbox (or not known to be out of it): every address, or its domain, verified."""
    statuses = verification_statuses(ses, addresses)
    unverified = [a for a in addresses if statuses[a] != "Success"]
    fix = " && ".join(
        target.aws(f"sesv2 create-email-identity --email-identity {a}")
        if statuses[a] == "NotRequested"
        else target.aws(f"ses verify-email-identity --email-address {a}")  # resends the link
        for a in unverified
    )
    if unverified:
        fix += " (each clicks the link SES mails; or verify their domain), or request production access"
    count = f"{len(addresses)} address(es)"
    if in_sandbox is None:
        unknown = f"sandbox status unknown ({unknown_why})"
        if unverified:
            return Check(
                NAME, "warn", f"{unknown}; if in the sandbox, unverified: {', '.join(unverified)}", fix
            )
        return Check(NAME, "ok", f"{unknown}; all {count} verified")
    if unverified:
        return Check(NAME, "FAIL", f"in the SES sandbox, unverified: {', '.join(unverified)}", fix)
    return Check(NAME, "ok", f"in the SES sandbox, all {count} verified")


def _out_of_sandbox(ses: Client, addresses: list[str], target: Target) -> Check:
    """Production access: deliverable; a domain that is no identity of the account is worth a look."""
    domains = sorted({a.rsplit("@", 1)[-1] for a in addresses})
    found: dict[str, Any] = {}
    for start in range(0, len(domains), 100):  # the API takes at most 100 identities per call
        answer = ses.get_identity_verification_attributes(Identities=domains[start : start + 100])
        found.update(answer["VerificationAttributes"])
    unverified = [d for d in domains if found.get(d, {}).get("VerificationStatus") != "Success"]
    count = f"{len(addresses)} address(es)"
    if unverified:
        fix = " && ".join(target.aws(f"sesv2 create-email-identity --email-identity {d}") for d in unverified)
        detail = (
            f"production access: SES mails all {count}; domains not verified in this account (check the"
            f" spelling): {', '.join(unverified)}"
        )
        return Check(NAME, "warn", detail, f"if they are yours: {fix}")
    return Check(NAME, "ok", f"production access, all {count} at verified domains")
