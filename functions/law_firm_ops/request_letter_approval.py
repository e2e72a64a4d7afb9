"""RequestLetterApproval (callback task): the responsible attorney approves, edits or rejects the letter.

Compensation: CancelApproval. Rejection archives the matter and reverts the client status.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.approval import ApprovalRequested, request_approval
from functions.law_firm_ops.models import ClientIdentity, DraftRef, MatterRecord
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft
from functions.shared.config import settings
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore
from functions.shared.step_handler import StepContext, step_handler


class LetterApprovalInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    letter: DraftRef
    attorney_email: EmailAddress


def request_letter_approval(
    payload: LetterApprovalInput,
    *,
    approvals: ApprovalService,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    identity = payload.identity
    return request_approval(
        approver=payload.attorney_email,
        action=(
            f"Send this engagement letter to {identity.name} <{identity.email}> "
            f"for matter {payload.matter_record.matter_id}"
        ),
        draft=Draft(
            subject=payload.letter.subject,
            body_key=payload.letter.body_key,
            body_sha256=payload.letter.body_sha256,
        ),
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(LetterApprovalInput)
def handler(payload: LetterApprovalInput, ctx: StepContext) -> ApprovalRequested:
    return request_letter_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
