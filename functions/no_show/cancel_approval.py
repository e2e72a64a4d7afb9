"""CancelApproval (compensation of RequestDigestApproval): the digest's approval link stops working.

After the deadline (the Catch put ``$.approvalError`` in the state) the record becomes EXPIRED;
after a failure, CANCELLED. Only the run's PENDING digest record moves. Idempotent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show.models import RunFiles, digest_approval_key
from functions.shared.approvals import ApprovalService, ApprovalStatus
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.step_handler import StepContext, step_handler


class CancelInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: RunFiles
    approvalError: CaughtError | None = None


class ApprovalsClosed(BaseModel):
    status: str
    closed: list[str]


def cancel_approval(payload: CancelInput, *, approvals: ApprovalService, ctx: StepContext) -> ApprovalsClosed:
    status: ApprovalStatus = "EXPIRED" if payload.approvalError is not None else "CANCELLED"
    key = digest_approval_key(payload.signals.day)
    closed = [
        record.approval_id
        for record in approvals.store.for_execution(ctx.execution)
        if record.state == key
        and record.status == "PENDING"
        and approvals.store.transition(record.approval_id, status) is not None
    ]
    return ApprovalsClosed(status=status, closed=closed)


@step_handler(CancelInput)
def handler(payload: CancelInput, ctx: StepContext) -> ApprovalsClosed:
    return cancel_approval(payload, approvals=ApprovalService(settings()), ctx=ctx)
