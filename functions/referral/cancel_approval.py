"""CancelApproval (compensation of ReviewMatch, RewardRequestApproval and ReengagementRequestApproval):
the run's pending approval links stop working.

After a deadline (the Catch put ``$.approvalError`` in the state) they become EXPIRED; after a
failure, CANCELLED. Idempotent: only PENDING records move.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.shared.approvals import ApprovalService, ApprovalStatus
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.step_handler import StepContext, step_handler


class CancelInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    approvalError: CaughtError | None = None


class ApprovalsClosed(BaseModel):
    status: str
    closed: list[str]


def cancel_approval(payload: CancelInput, *, approvals: ApprovalService, ctx: StepContext) -> ApprovalsClosed:
    status: ApprovalStatus = "EXPIRED" if payload.approvalError is not None else "CANCELLED"
    return ApprovalsClosed(status=status, closed=approvals.close_for_execution(ctx.execution, status))


@step_handler(CancelInput)
def handler(payload: CancelInput, ctx: StepContext) -> ApprovalsClosed:
    return cancel_approval(payload, approvals=ApprovalService(settings()), ctx=ctx)
