"""LogDeclined / LogNoAnswers (irreversible, idempotent): the client did not give an interview.

A rejection of the questions means the client declined (``declined``); an expiry (the sweeper's
``ApprovalExpired`` or the task's ``States.Timeout``) means no answers came before the deadline
(``no_answers``). ``SendTaskFailure`` carries only the error name reliably, so the client's comment
is read from the approvals table, where the decision was recorded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.activity import record_outcome
from functions.case_study.models import Facts, Outcome
from functions.shared.adapters import get_crm
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.crm import CrmPort
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class NoInterviewInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str
    facts: Facts
    approvalError: CaughtError


def log_no_interview(
    payload: NoInterviewInput, *, crm: CrmPort, approvals: ApprovalStore, ctx: StepContext
) -> Outcome:
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    rejected = [r for r in approvals.for_execution(ctx.execution) if r.status == "REJECTED"]
    latest = max(rejected, key=lambda r: r.decided_at or "", default=None)
    if expired:
        detail = f"{payload.facts.client_name} sent no answers before the deadline"
    elif latest is not None:
        detail = f"{latest.decided_by} declined the interview: {latest.comment or 'no comment'}"
    else:
        detail = (
            f"the client declined the interview: {payload.approvalError.Cause or payload.approvalError.Error}"
        )
    return record_outcome(
        ctx=ctx,
        crm=crm,
        contact_id=payload.facts.contact_id,
        deal_id=payload.deal_id,
        kind="case_study_no_answers" if expired else "case_study_declined",
        summary=detail,
        details={"approval_id": latest.approval_id if latest else None, "error": payload.approvalError.Error},
        outcome=Outcome(
            status="no_answers" if expired else "declined",
            deal_id=payload.deal_id,
            activity_id="-",
            detail=detail[:500],
        ),
    )


@step_handler(NoInterviewInput)
def handler(payload: NoInterviewInput, ctx: StepContext) -> Outcome:
    return log_no_interview(
        payload, crm=get_crm(), approvals=ApprovalStore(settings().approvals_table), ctx=ctx
    )
