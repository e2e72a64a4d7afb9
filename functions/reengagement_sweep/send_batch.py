"""SendBatch (irreversible, idempotent): the approved drafts of one batch, each sent once per period.

For each client of the batch's drafts file that the approver let through (``approved.json``):

1. if the CRM timeline already shows this period's re-engagement from another run, skip it
   (``already_sent``): the record outlives the idempotency table's TTL;
2. send the draft to the CRM address (never an address from model text) through ``run_once``
   keyed on ``business_action("reengagement_sweep", period, client)``, recipient pinned: a Lambda
   retry, a replayed invocation or a fresh run of the same period returns the first send;
3. log ``reengagement_sent`` on the client's timeline, once per (period, client) as well.

A client the mail system refuses (``PermanentIntegrationError``, ``InvalidInputError``) is counted
as failed and the batch goes on; anything else fails the invocation, and its retry skips what was
sent. The counts also go to ``<prefix>sent/<n>.json`` for SummarizeSweep; the output is the same
on a replay (``sent`` counts sends made by this execution, whichever attempt made them).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from functions.reengagement_sweep.find_dormant_clients import batch_key
from functions.reengagement_sweep.models import BatchRef, BatchSent, DraftedClient
from functions.shared.adapters import get_crm, get_email, get_files
from functions.shared.business_keys import ActionKey, business_action
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.crm import Activity, CrmPort, utc_now_iso
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

SENT_KIND = "reengagement_sent"


class SendBatchInput(BatchRef):
    model_config = ConfigDict(extra="ignore")

    approved_key: str


class SweepSent(BaseModel):
    """What ``run_once`` stores for one send: replays (any run) get this back."""

    message_id: str
    to: str
    subject: str
    sent_at: str
    execution: str  # the run that sent it


def send_key(period: str, contact_id: str) -> ActionKey:
    return business_action("reengagement_sweep", period, contact_id)


def activity_id(period: str, contact_id: str) -> str:
    """The CRM activity of one (period, client): the same id in every run, so the CRM keeps one."""
    digest = hashlib.sha256(send_key(period, contact_id).value.encode()).hexdigest()[:16]
    return f"sweep-{period}-{digest}"


def _sent_by_other_run(crm: CrmPort, period: str, contact_id: str, execution: str) -> bool:
    wanted = activity_id(period, contact_id)
    return any(
        a.activity_id == wanted and a.details.get("execution") != execution
        for a in crm.list_activities(contact_id)
    )


def _send_one(
    line: DraftedClient, *, period: str, email: EmailPort, crm: CrmPort, ctx: StepContext
) -> SweepSent:
    client, body, subject = line.client, line.body or "", line.subject or ""
    if sha256_text(body) != line.body_sha256:
        raise PermanentIntegrationError(f"draft for {client.contact_id} changed after it was written")

    def send() -> SweepSent:
        sent = email.send(
            OutgoingEmail(
                to=client.email,
                subject=subject,
                body_text=body,
                tags={"kind": "reengagement_sweep", "workflow": ctx.workflow, "trace_id": ctx.trace_id},
            )
        )
        return SweepSent(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            sent_at=sent.sent_at,
            execution=ctx.execution,
        )

    sent = run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=send_key(period, client.contact_id),
        pinned={"to": client.email},
        result_model=SweepSent,
        effect=send,
    )

    def log() -> SweepSent:
        crm.log_activity(
            Activity(
                activity_id=activity_id(period, client.contact_id),
                contact_id=client.contact_id,
                kind=SENT_KIND,
                summary=f"Re-engagement email sent ({period} sweep): {sent.subject}"[:500],
                at=utc_now_iso(),
                trace_id=ctx.trace_id,
                details={"period": period, "message_id": sent.message_id, "execution": sent.execution},
            )
        )
        return sent

    return run_once(
        workflow=ctx.workflow,
        step=f"{ctx.step}.log",
        key=send_key(period, client.contact_id),
        pinned={"kind": SENT_KIND, "contact_id": client.contact_id},
        result_model=SweepSent,
        effect=log,
    )


def send_batch(
    payload: SendBatchInput, *, email: EmailPort, crm: CrmPort, files: FileStore, ctx: StepContext
) -> BatchSent:
    approved = set(files.get_json(payload.approved_key))
    lines = [
        DraftedClient.model_validate(x)
        for x in files.get_json(batch_key(payload.prefix, "drafts", payload.batch))
    ]
    sent = already = failed = skipped = 0
    for line in lines:
        contact_id = line.client.contact_id
        if line.body is None or contact_id not in approved:
            skipped += 1
            continue
        if _sent_by_other_run(crm, payload.period, contact_id, ctx.execution):
            already += 1
            continue
        try:
            record = _send_one(line, period=payload.period, email=email, crm=crm, ctx=ctx)
        except (PermanentIntegrationError, InvalidInputError):
            failed += 1
            continue
        if record.execution == ctx.execution:
            sent += 1
        else:
            already += 1
    result = BatchSent(batch=payload.batch, sent=sent, already_sent=already, failed=failed, skipped=skipped)
    files.put_json(batch_key(payload.prefix, "sent", payload.batch), result.model_dump(mode="json"))
    return result


@step_handler(SendBatchInput)
def handler(payload: SendBatchInput, ctx: StepContext) -> BatchSent:
    return send_batch(payload, email=get_email(), crm=get_crm(), files=get_files(), ctx=ctx)
