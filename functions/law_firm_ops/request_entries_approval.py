"""RequestEntriesApproval (callback task): the attorney approves, edits or rejects the proposed entries.

The draft is the plain-text table; approve-with-edits replaces it and FinalizeEntries parses the
edited table strictly. Rejection posts nothing (the client stays onboarded). Compensation:
CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.approval import ApprovalRequested, request_approval
from functions.law_firm_ops.models import ClientIdentity, MatterRecord, ProposedTime, Unbilled
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft
from functions.shared.config import settings
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class EntriesApprovalInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    proposal: ProposedTime
    attorney_email: EmailAddress
    unbilled: Unbilled | None = None


def request_entries_approval(
    payload: EntriesApprovalInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    table = payload.proposal.table
    hours = payload.proposal.total_minutes / 60
    return request_approval(
        approver=payload.attorney_email,
        action=(
            f"Post {payload.proposal.count} recovered time entries ({hours:.1f} h) to "
            f"{payload.identity.name}'s matter {payload.matter_record.matter_id}"
            + (
                f" ({payload.unbilled.left_out} more unbilled items were not proposed: review them by hand)"
                if payload.unbilled is not None and payload.unbilled.left_out
                else ""
            )
        ),
        draft=Draft(subject=table.subject, body_key=table.body_key, body_sha256=table.body_sha256),
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(EntriesApprovalInput)
def handler(payload: EntriesApprovalInput, ctx: StepContext) -> ApprovalRequested:
    return request_entries_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
