"""SendConfirmations (irreversible, idempotent): one scored batch's low-risk clients asked to confirm.

A Distributed Map child. For each appointment of the batch file that ScoreBatch routed to
"confirm": the confirmation request (``send_confirmation_request``: calendar + CRM, a fixed
template, ``run_once`` on day + owner + event + start time) and its CRM activity
(``confirmation_requested``, once per business action too). Already-confirmed appointments get their
outcome here without any send. A failure of one appointment is recorded on its CRM timeline and in
the outcome file, and never fails the batch; transient errors (throttling, a 5xx) are raised once
the rest of the batch is done, so the ASL retries the batch: what was sent is not sent again.

Writes ``<prefix>/confirmed/0001.json`` (every outcome of the batch) and returns counts.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from functions.no_show.activity import record_outcome
from functions.no_show.models import (
    AppointmentOutcome,
    BatchCounts,
    BatchInput,
    DigestItem,
    ScoredBatch,
    ScoreLine,
)
from functions.no_show.send_confirmation_request import send_confirmation_request
from functions.shared.adapters import get_calendar, get_crm, get_email, get_files
from functions.shared.business_keys import business_action
from functions.shared.errors import TransientIntegrationError
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, dumps_json
from functions.shared.step_handler import StepContext, step_handler

#: Appointments handled at once within a batch (each is a few DynamoDB calls and one SES send).
SEND_THREADS = 4
#: Transient errors are raised (the ASL retries the batch) on attempts before this one.
LAST_RAISING_ATTEMPT = 3


class Transient(Exception):
    """One appointment hit a transient error; the batch is retried after the others are done."""


def confirm_one(
    line: ScoreLine,
    payload: BatchInput,
    *,
    calendar: CalendarPort,
    crm: CrmPort,
    email: EmailPort,
    ctx: StepContext,
    retry_transient: bool,
) -> AppointmentOutcome:
    if line.route == "already_confirmed":
        return AppointmentOutcome(
            event_id=line.event_id,
            contact_id=line.contact_id,
            score=line.score,
            status="already_confirmed",
            detail="the client already confirmed; no request sent",
        )
    day, owner = payload.run.day, payload.run.owner
    try:
        sent = send_confirmation_request(
            line, day=day, owner=owner, calendar=calendar, crm=crm, email=email, ctx=ctx
        )
        return record_outcome(
            ctx=ctx,
            crm=crm,
            key=business_action("confirmation_requested_logged", day, owner, line.event_id, sent.message_id),
            kind="confirmation_requested",
            summary=f"Appointment confirmation requested (no-show risk {line.score:.2f}): {sent.subject}",
            details={"message_id": sent.message_id},
            outcome=AppointmentOutcome(
                event_id=line.event_id,
                contact_id=line.contact_id,
                score=line.score,
                status="confirmation_requested",
                detail=f"confirmation request sent to {sent.to}",
                message_id=sent.message_id,
            ),
        )
    except TransientIntegrationError as exc:
        if retry_transient:
            raise Transient(str(exc)) from exc
        return record_failure(line, exc, crm=crm, ctx=ctx)
    except Exception as exc:
        return record_failure(line, exc, crm=crm, ctx=ctx)


def record_failure(
    line: ScoreLine | DigestItem, exc: Exception, *, crm: CrmPort, ctx: StepContext
) -> AppointmentOutcome:
    """One appointment failed: its outcome says so, and so does its CRM timeline (once per run)."""
    error = getattr(exc, "name", None) or type(exc).__name__
    detail = f"{error}: {exc}"[:500]
    route = line.route if isinstance(line, ScoreLine) else "escalate"
    outcome = AppointmentOutcome(
        event_id=line.event_id,
        contact_id=line.contact_id,
        score=line.score,
        status="failed",
        detail=detail,
        error=error,
        action=line.recommended_action if route == "escalate" else None,
    )
    try:
        return record_outcome(
            ctx=ctx,
            crm=crm,
            kind="no_show_check_failed",
            summary=detail,
            details={"error": error, "route": route},
            outcome=outcome,
        )
    except Exception:
        return outcome.model_copy(
            update={"detail": f"{detail} (the failure could not be recorded in the CRM)"}
        )


def send_confirmations(
    payload: BatchInput,
    *,
    calendar: CalendarPort,
    crm: CrmPort,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> BatchCounts:
    index = payload.batch.index
    scored = ScoredBatch.model_validate(files.get_json(payload.run.key("scored", index)))
    lines = [line for line in scored.lines if line.route in {"confirm", "already_confirmed"}]
    retry_transient = ctx.attempt < LAST_RAISING_ATTEMPT

    def one(line: ScoreLine) -> AppointmentOutcome | Transient:
        try:
            return confirm_one(
                line,
                payload,
                calendar=calendar,
                crm=crm,
                email=email,
                ctx=ctx,
                retry_transient=retry_transient,
            )
        except Transient as exc:
            return exc

    with ThreadPoolExecutor(max_workers=SEND_THREADS) as pool:
        # copy_context() here, in the handler's thread: each task runs in a copy of ITS context (the
        # Lambda context run_once registers, the step the ledger charges), one copy per task.
        futures = [pool.submit(contextvars.copy_context().run, one, line) for line in lines]
        results = [future.result() for future in futures]
    transient = next((r for r in results if isinstance(r, Transient)), None)
    if transient is not None:
        raise TransientIntegrationError(
            f"batch {index}: {transient} (the batch is retried; nothing is sent twice)"
        )
    outcomes = [r for r in results if isinstance(r, AppointmentOutcome)]
    key = payload.run.key("confirmed", index)
    files.put_text(key, dumps_json(outcomes))
    return BatchCounts(
        index=index,
        key=key,
        appointments=len(outcomes),
        sent=sum(1 for o in outcomes if o.status == "confirmation_requested"),
        failed=sum(1 for o in outcomes if o.status == "failed"),
    )


@step_handler(BatchInput)
def handler(payload: BatchInput, ctx: StepContext) -> BatchCounts:
    return send_confirmations(
        payload, calendar=get_calendar(), crm=get_crm(), email=get_email(), files=get_files(), ctx=ctx
    )
