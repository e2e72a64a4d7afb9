"""Unpublish (compensation of Publish): remove the case study this run published.

Runs when a later step fails for good (e.g. the CRM log). It deletes the object only if it still
holds exactly the text this run published (sha256 from ``$.published``, or from the approved
draft when Publish itself failed after its write may have landed), so it never removes another
run's or a person's later version. Idempotent: a missing object is "nothing to undo". The result
(``$.unpublished``) is recorded on the CRM timeline by RecordFailure.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.case_study.models import ApprovalDecision, Facts, Published, Unpublished
from functions.shared.adapters import get_files
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler


class UnpublishInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    marketing_approval: ApprovalDecision
    published: Published | None = None


def unpublish(payload: UnpublishInput, *, files: FileStore) -> Unpublished:
    key = payload.facts.published_key
    ours = (
        payload.published.body_sha256 if payload.published else payload.marketing_approval.draft.body_sha256
    )
    if not files.exists(key):
        return Unpublished(key=key, deleted=False, detail="nothing published: nothing to undo")
    if sha256_text(files.get_text(key)) != ours:
        return Unpublished(key=key, deleted=False, detail="the object holds other content: left in place")
    files.delete(key)
    return Unpublished(key=key, deleted=True, detail=f"deleted {key}")


@step_handler(UnpublishInput)
def handler(payload: UnpublishInput, ctx: StepContext) -> Unpublished:
    return unpublish(payload, files=get_files())
