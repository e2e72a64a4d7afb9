"""SettleDigest (irreversible, idempotent): what the manager decided on the digest, made concrete.

One Lambda for two states: SettleApprovedDigest (the approval's Next) and RecordDigestNotApproved
(the approval's rejection and expiry catches; a failed approval step fails the run instead):
- approved: the approved text says which appointments stay (edits may only leave some out: a
  deleted line, or a ``drop <event id>`` line; actions always come from the digest, never from the
  edited text). The approved items go to apply batch files + a manifest (``<prefix>/apply.json``,
  the ApplyApprovedActions Map's ItemReader), the left-out ones are ``action_dropped``, and the
  manager gets the approved task list once (``run_once`` on day + owner).
- rejected or expired (``$.approvalError``): nothing is applied; every digest item's outcome says
  why (who rejected, with their comment) and the run logs the decision (the apply manifest it
  writes is empty, and the run goes straight to the summary).
"""

from __future__ import annotations

import re

from functions.no_show.models import (
    AppointmentOutcome,
    ApprovalDecision,
    BatchRef,
    DigestInput,
    DigestItem,
    SentEmailRef,
    SettledDigest,
    digest_approval_key,
)
from functions.no_show.prepare_digest import END_MARKER
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalStore
from functions.shared.business_keys import business_action
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.models import CaughtError
from functions.shared.observability import logger
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, dumps_json, sha256_text
from functions.shared.step_handler import StepContext, step_handler

#: Approved actions per ApplyApprovedActions child.
APPLY_BATCH_SIZE = 100
EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}
_LINE = re.compile(r"^\s*\[([^\]\s]+)\]", re.MULTILINE)
_DROP = re.compile(r"^\s*drop\s+\[?([^\]\s]+)\]?\s*$", re.MULTILINE | re.IGNORECASE)
ACTION_TEXT = {
    "call": "call the client before the appointment to confirm they will attend",
    "reschedule": "the calendar says 'rescheduled': agree on another slot with the client",
    "overbook": "keep the appointment and book a standby client in the same slot",
}


class SettleInput(DigestInput):
    approval: ApprovalDecision | None = None
    approvalError: CaughtError | None = None


def kept_ids(approved_text: str, items: list[DigestItem]) -> set[str]:
    """The digest items the approved text keeps: lines still there (if the list was edited in
    place, i.e. its end marker is still there), minus ``drop <event id>`` lines."""
    ids = {item.event_id for item in items}
    kept = set(_LINE.findall(approved_text)) & ids if END_MARKER in approved_text else set(ids)
    return kept - set(_DROP.findall(approved_text))


def task_list(run_day: str, owner: str, items: list[DigestItem]) -> str:
    lines = "\n".join(
        f"- [{item.event_id}] {item.recommended_action}: {ACTION_TEXT[item.recommended_action]} "
        f"(contact {item.contact_id}, risk {item.score:.0%})"
        for item in items
    )
    return f"Approved no-show actions for {owner}, {run_day} ({len(items)}):\n\n{lines}\n"


def outcome(item: DigestItem, status: str, detail: str, decided_by: str | None = None) -> AppointmentOutcome:
    return AppointmentOutcome.model_validate(
        {
            "event_id": item.event_id,
            "contact_id": item.contact_id,
            "score": item.score,
            "status": status,
            "action": item.recommended_action,
            "detail": detail[:500],
            "decided_by": decided_by,
        }
    )


def settle_digest(
    payload: SettleInput, *, files: FileStore, email: EmailPort, approvals: ApprovalStore, ctx: StepContext
) -> SettledDigest:
    run, digest = payload.signals, payload.digest
    listed = files.get_text(digest.key)
    if sha256_text(listed) != digest.sha256:
        raise PermanentIntegrationError(f"digest {digest.key} changed after it was written")
    items = [DigestItem.model_validate(i) for i in files.get_json(digest.key)]
    manifest_key, outcomes_key = run.key("apply"), run.key("escalations")
    approved: list[DigestItem] = []
    outcomes: list[AppointmentOutcome] = []
    task_id: str | None = None
    approver = payload.manager_email
    if payload.approval is not None:
        decision = "approved"
        approver = payload.approval.approver
        text = files.get_text(payload.approval.draft.body_key)
        if sha256_text(text) != payload.approval.draft.body_sha256:
            raise PermanentIntegrationError("the approved digest changed after it was approved")
        kept = kept_ids(text, items)
        approved = [item for item in items if item.event_id in kept]
        outcomes = [
            outcome(item, "action_dropped", f"left out of the digest by {approver}", approver)
            for item in items
            if item.event_id not in kept
        ]
        if approved:
            task_id = send_task_list(
                run.day, run.owner, approved, to=payload.manager_email, email=email, ctx=ctx
            )
    else:
        decision, detail, decided_by = why_not(payload, approvals, ctx)
        status = "escalation_expired" if decision == "expired" else "escalation_rejected"
        outcomes = [outcome(item, status, detail, decided_by) for item in items]
    manifest: list[BatchRef] = []
    for start in range(0, len(approved), APPLY_BATCH_SIZE):
        index = len(manifest) + 1
        key = run.key("apply", index)
        files.put_text(key, dumps_json(approved[start : start + APPLY_BATCH_SIZE]))
        manifest.append(BatchRef(index=index, key=key))
    files.put_text(outcomes_key, dumps_json(outcomes))
    files.put_text(manifest_key, dumps_json(manifest))
    logger.info(
        "no_show digest settled",
        extra={"decision": decision, "approved": len(approved), "not_applied": len(outcomes), "day": run.day},
    )
    return SettledDigest(
        decision=decision,
        approved=len(approved),
        dropped=sum(1 for o in outcomes if o.status == "action_dropped"),
        approver=approver,
        manifest_key=manifest_key,
        batches=len(manifest),
        outcomes_key=outcomes_key,
        task_message_id=task_id,
    )


def why_not(payload: SettleInput, approvals: ApprovalStore, ctx: StepContext) -> tuple[str, str, str | None]:
    error = payload.approvalError
    if error is None:
        raise InvalidInputError(
            "SettleDigest needs $.approval (approved) or $.approvalError (rejected, expired)"
        )
    if error.Error in EXPIRY_ERRORS:
        return "expired", "nobody decided on the digest before the deadline; default decision: reject", None
    key = digest_approval_key(payload.signals.day)
    decided = [r for r in approvals.for_execution(ctx.execution) if r.state == key and r.status == "REJECTED"]
    latest = max(decided, key=lambda r: r.decided_at or "", default=None)
    if latest is None:
        return "rejected", f"digest rejected: {error.Cause or error.Error}", None
    return (
        "rejected",
        f"digest rejected by {latest.decided_by}: {latest.comment or 'no comment'}",
        latest.decided_by,
    )


def send_task_list(
    day: str, owner: str, items: list[DigestItem], *, to: str, email: EmailPort, ctx: StepContext
) -> str:
    body = task_list(day, owner, items)

    def send() -> SentEmailRef:
        sent = email.send(
            OutgoingEmail(
                to=to,
                subject=f"Task: {len(items)} approved no-show action(s) for {day}",
                body_text=body,
                tags={"kind": "no_show_task_list", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SentEmailRef.of(sent, body)

    # One task list per day and owner: a rerun of the day applies what it approves (each action once,
    # ApplyApprovedActions) but sends the manager no second list.
    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=business_action("no_show_task_list", day, owner.lower()),
        pinned={"to": to},
        result_model=SentEmailRef,
        effect=send,
    ).message_id


@step_handler(SettleInput)
def handler(payload: SettleInput, ctx: StepContext) -> SettledDigest:
    return settle_digest(
        payload,
        files=get_files(),
        email=get_email(),
        approvals=ApprovalStore(settings().approvals_table),
        ctx=ctx,
    )
