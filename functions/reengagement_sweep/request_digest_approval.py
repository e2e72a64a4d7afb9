"""RequestDigestApproval (callback task): one approval for the whole sweep, on a digest of the drafts.

Invoked through ``lambda:invoke.waitForTaskToken``. The digest (``<prefix>digest.txt``) lists one
line per drafted client (id, name, address, company, days quiet, subject) and the clients the
model failed for; the approver reads it on the approval page (the email carries the first lines
and the counts). Approve sends every listed draft; approve with edits leaves clients out (see
``finalize_digest.py``: delete their lines, or replace the text with ``drop <client id>`` lines,
which is what a long digest needs: an edited text holds at most 3,000 characters); reject sends
nothing. A scheduled run names no approver: the directory's default for ``approver_email`` decides.
Compensation: CancelApproval.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.reengagement_sweep.find_dormant_clients import batch_key
from functions.reengagement_sweep.models import DigestRequested, DraftedClient, SweepFound
from functions.shared.adapters import get_email, get_files
from functions.shared.approvals import ApprovalService, Draft, approval_email
from functions.shared.approvers import workflow_approvers
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError
from functions.shared.models import EmailAddress
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

APPROVER_FIELD = "approver_email"
#: Lines of the digest the approval email itself carries; the page shows all of them.
EMAIL_LINES = 40
DROP_HELP = (
    "To leave clients out, approve with edits: delete their lines, or replace the whole text with one\n"
    "line per client to leave out, 'drop <client id>' (needed for a long list: an edit holds 3,000\n"
    "characters). Rejecting sends nothing. Each client gets at most one email per period."
)


class DigestInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    found: SweepFound
    approver_email: EmailAddress | None = None


def client_line(line: DraftedClient) -> str:
    """``[<id>] Name <email> (Company), quiet N days: <subject or error>``: the id leads, for edits."""
    c = line.client
    what = f"subject: {line.subject}" if line.body is not None else f"NOT DRAFTED ({line.error})"
    return f"[{c.contact_id}] {c.name} <{c.email}> ({c.company}), quiet {c.days_inactive} days: {what}"


def read_drafts(files: FileStore, found: SweepFound) -> list[DraftedClient]:
    return [
        DraftedClient.model_validate(line)
        for batch in found.batches
        for line in files.get_json(batch_key(found.prefix, "drafts", batch))
    ]


def request_digest_approval(
    payload: DigestInput, *, approvals: ApprovalService, email: EmailPort, files: FileStore, ctx: StepContext
) -> DigestRequested:
    if ctx.task_token is None:
        raise InvalidInputError("request_digest_approval must be invoked with .waitForTaskToken")
    found = payload.found
    approver = (
        payload.approver_email or workflow_approvers(settings(), ctx.workflow).choice(APPROVER_FIELD).default
    )
    lines = read_drafts(files, found)
    drafted = [line for line in lines if line.body is not None]
    failed = [line for line in lines if line.body is None]
    header = (
        f"Re-engagement sweep {found.period}: {len(drafted)} drafted emails to dormant clients"
        f" ({len(failed)} not drafted; {found.left_out} more dormant clients left for a later sweep).\n"
        f"{DROP_HELP}\n"
    )
    body = header + "\nTo send:\n" + "".join(client_line(line) + "\n" for line in drafted)
    if failed:
        body += "\nNot drafted (nothing will be sent to them):\n" + "".join(
            client_line(line) + "\n" for line in failed
        )
    key = f"{found.prefix}digest.txt"
    files.put_text(key, body)
    record = approvals.create(
        execution=ctx.execution,
        workflow=ctx.workflow,
        state=ctx.state,
        approver=approver,
        action=f"Send {len(drafted)} re-engagement emails to dormant clients ({found.period})",
        draft=Draft(
            subject=f"Re-engagement sweep {found.period}", body_key=key, body_sha256=sha256_text(body)
        ),
        task_token=ctx.task_token,
    )
    shown = body.splitlines()
    preview = "\n".join(shown[:EMAIL_LINES])
    if len(shown) > EMAIL_LINES:
        preview += f"\n... {len(shown) - EMAIL_LINES} more lines: open the link to see the whole list."
    email.send(
        approval_email(
            record, to=approver, link=approvals.link(record), body=preview, kind="approval_request"
        )
    )
    return DigestRequested(
        approval_id=record.approval_id,
        expires_at=record.expires_at,
        drafted=len(drafted),
        failed=len(failed),
        digest_key=key,
    )


@step_handler(DigestInput)
def handler(payload: DigestInput, ctx: StepContext) -> DigestRequested:
    return request_digest_approval(
        payload, approvals=ApprovalService(settings()), email=get_email(), files=get_files(), ctx=ctx
    )
