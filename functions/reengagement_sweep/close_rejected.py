"""CloseRejected (pure): the approver rejected the digest, or nobody decided in time; nothing is sent.

``SendTaskFailure`` carries only the error name reliably, so who rejected and why is read from the
approvals table. The outcome says how many drafts were not sent; the drafts stay in the files
bucket (``<prefix>drafts/``) for a look, and no client is marked as re-engaged, so the next
period's sweep finds them again.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.reengagement_sweep.models import Outcome, SweepFound
from functions.reengagement_sweep.request_digest_approval import read_drafts
from functions.shared.adapters import get_files
from functions.shared.approvals import ApprovalStore
from functions.shared.config import settings
from functions.shared.models import CaughtError
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler

EXPIRY_ERRORS = {"ApprovalExpired", "States.Timeout", "States.HeartbeatTimeout"}


class RejectedInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    found: SweepFound
    approvalError: CaughtError


def close_rejected(
    payload: RejectedInput, *, approvals: ApprovalStore, files: FileStore, ctx: StepContext
) -> Outcome:
    found = payload.found
    drafted = sum(1 for d in read_drafts(files, found) if d.body is not None)
    expired = payload.approvalError.Error in EXPIRY_ERRORS
    decided = [r for r in approvals.for_execution(ctx.execution) if r.status == "REJECTED"]
    latest = max(decided, key=lambda r: r.decided_at or "", default=None)
    if expired:
        why = "nobody decided before the approval deadline; default decision: reject"
    elif latest is not None:
        why = f"rejected by {latest.decided_by}: {latest.comment or 'no comment'}"
    else:
        why = f"rejected: {payload.approvalError.Cause or payload.approvalError.Error}"
    return Outcome(
        status="expired" if expired else "rejected",
        period=found.period,
        detail=f"no re-engagement email sent for {found.period} ({drafted} drafts): {why}"[:1000],
        dormant=found.total,
        drafted=drafted,
        left_out=found.left_out,
    )


@step_handler(RejectedInput)
def handler(payload: RejectedInput, ctx: StepContext) -> Outcome:
    return close_rejected(
        payload, approvals=ApprovalStore(settings().approvals_table), files=get_files(), ctx=ctx
    )
