"""RequestConflictWaiver (callback task): the partner decides whether the firm may act despite a conflict.

The conflict report is recomputed from the CRM and the raw intake text (the Catch only kept the
error text), says when the partner is asked only because no other side was extracted, is written to file
storage and sent with a signed link to the partner. Approve = waive and continue; reject = the run
ends ``conflict`` with nothing created. Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.approval import ApprovalRequested, request_approval
from functions.law_firm_ops.conflicts import find_conflicts, partner_concern
from functions.law_firm_ops.models import ClientIdentity, Matter
from functions.shared.adapters import get_crm, get_email, get_files
from functions.shared.approvals import ApprovalService, Draft
from functions.shared.config import settings
from functions.shared.models import EmailAddress
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class WaiverInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter: Matter
    matter_description: str
    partner_email: EmailAddress
    attorney_email: EmailAddress


def conflict_report(payload: WaiverInput, *, crm: CrmPort, files: FileStore) -> str:
    matter = payload.matter
    hits, checked = find_conflicts(
        identity=payload.identity,
        parties=matter.parties,
        crm=crm,
        files=files,
        description=payload.matter_description,
    )
    concern = partner_concern(
        matter_type=matter.matter_type, description=payload.matter_description, parties=matter.parties
    )
    lines = [
        f"Prospective client: {payload.identity.name} <{payload.identity.email}>"
        + (f", {payload.identity.company}" if payload.identity.company else ""),
        f"Matter ({payload.matter.matter_type}): {payload.matter.summary}",
        f"Responsible attorney: {payload.attorney_email}",
        "",
        "Conflicts found in the CRM:",
        *[f"- {h.matched} matches {h.contact_id} ({h.name}): {h.reason}" for h in hits],
        *([] if hits else ["- none"]),
        *(
            ["", f"Also asked because {concern}: confirm nobody on the other side is a client."]
            if concern
            else []
        ),
        "",
        "Parties checked: " + ", ".join(checked),
        "",
        "Approve to waive the conflict and open the matter; reject to decline the matter.",
    ]
    return "\n".join(lines)


def request_waiver(
    payload: WaiverInput,
    *,
    approvals: ApprovalService,
    crm: CrmPort,
    email: EmailPort,
    files: FileStore,
    ctx: StepContext,
) -> ApprovalRequested:
    report = conflict_report(payload, crm=crm, files=files)
    key = f"drafts/{ctx.execution}/conflict-report-{ctx.attempt}.txt"
    files.put_text(key, report)
    return request_approval(
        approver=payload.partner_email,
        action=f"Waive the conflict of interest and open a matter for {payload.identity.name}",
        draft=Draft(
            subject=f"Conflict waiver: {payload.identity.name}"[:120],
            body_key=key,
            body_sha256=sha256_text(report),
        ),
        approvals=approvals,
        email=email,
        files=files,
        ctx=ctx,
    )


@step_handler(WaiverInput)
def handler(payload: WaiverInput, ctx: StepContext) -> ApprovalRequested:
    return request_waiver(
        payload,
        approvals=ApprovalService(settings()),
        crm=get_crm(),
        email=get_email(),
        files=get_files(),
        ctx=ctx,
    )
