"""CancelApproval (compensation of RequestDigestApproval): the digest's approval link stops working.

After the deadline (``$.approvalError`` set) it becomes EXPIRED, after a failure CANCELLED; only
PENDING records move. The same function as the referral flow's, under this workflow's name.
"""

from __future__ import annotations

from functions.referral.cancel_approval import ApprovalsClosed, CancelInput, cancel_approval
from functions.shared.approvals import ApprovalService
from functions.shared.config import settings
from functions.shared.step_handler import StepContext, step_handler


@step_handler(CancelInput)
def handler(payload: CancelInput, ctx: StepContext) -> ApprovalsClosed:
    return cancel_approval(payload, approvals=ApprovalService(settings()), ctx=ctx)
