"""FinalizeDigest (pure): the approver's answer, as the set of clients to write to.

Approved without edits: every drafted client. Approved with edits, read strictly from the edited
digest (its sha256 must be what the approval service stored):

- any ``drop <client id>`` line: exactly those clients are left out (the rest of the text is not
  read), which is how a long digest is edited within the 3,000 characters an edit may hold;
- otherwise the clients whose ``[<client id>] ...`` line was deleted are left out.

A ``drop`` naming no drafted client, or a client line that was not in the digest, is refused
(``InvalidInputError``): the sweep fails before anything is sent rather than guess. The set goes
to ``<prefix>approved.json``; the state keeps its key and counts.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from functions.reengagement_sweep.models import ApprovedSet, DigestApproval, SweepFound
from functions.reengagement_sweep.request_digest_approval import read_drafts
from functions.shared.adapters import get_files
from functions.shared.errors import InvalidInputError, PermanentIntegrationError
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

DROP = re.compile(r"^\s*drop\s+(\S+)\s*$", re.IGNORECASE)
CLIENT_LINE = re.compile(r"^\s*\[([^\]\s]+)\]")


class FinalizeInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    found: SweepFound
    digest_approval: DigestApproval


def left_out_by_edit(edited: str, drafted: set[str]) -> set[str]:
    lines = edited.splitlines()
    drops = [m.group(1) for line in lines if (m := DROP.match(line))]
    if drops:
        unknown = sorted(set(drops) - drafted)
        if unknown:
            raise InvalidInputError(
                f"the edited digest drops clients it did not list: {', '.join(unknown[:10])}"
            )
        return set(drops)
    kept = {m.group(1) for line in lines if (m := CLIENT_LINE.match(line))}
    unknown = sorted(kept - drafted)
    if unknown:
        raise InvalidInputError(
            f"the edited digest lists clients it was not asked about: {', '.join(unknown[:10])}"
        )
    return drafted - kept


def finalize_digest(payload: FinalizeInput, *, files: FileStore, ctx: StepContext) -> ApprovedSet:
    drafted = {line.client.contact_id for line in read_drafts(files, payload.found) if line.body is not None}
    approval = payload.digest_approval
    dropped: set[str] = set()
    if approval.edited:
        text = files.get_text(approval.draft.body_key)
        if sha256_text(text) != approval.draft.body_sha256:
            raise PermanentIntegrationError(
                f"edited digest {approval.draft.body_key} changed after it was approved"
            )
        dropped = left_out_by_edit(text, drafted)
    approved = sorted(drafted - dropped)
    key = f"{payload.found.prefix}approved.json"
    files.put_json(key, approved)
    return ApprovedSet(key=key, approved=len(approved), dropped=len(dropped), edited=approval.edited)


@step_handler(FinalizeInput)
def handler(payload: FinalizeInput, ctx: StepContext) -> ApprovedSet:
    return finalize_digest(payload, files=get_files(), ctx=ctx)
