"""Publish (reversible → Unpublish; idempotent): the text marketing approved goes to file storage.

The object key comes from CRM data (``published/case-studies/<slug>.md``, slug fixed by
CollectFacts), the text from file storage, checked against the sha256 marketing approved.
``run_once`` keys the write on the deal (``business_keys``) and pins key and body hash, so a retry
after a successful write returns the first result (a rerun with another text fails loudly). An
object already at the key with other content (another run's case study) is never overwritten:
that is a ``BusinessRuleError``, and the compensation, which deletes only content with this
run's hash, leaves it alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from functions.case_study.models import ApprovalDecision, Facts, Published
from functions.shared.adapters import get_files
from functions.shared.business_keys import business_action
from functions.shared.errors import BusinessRuleError, PermanentIntegrationError
from functions.shared.idempotency import run_once
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.step_handler import StepContext, step_handler

MARKDOWN = "text/markdown; charset=utf-8"


class PublishInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: Facts
    marketing_approval: ApprovalDecision


def publish(payload: PublishInput, *, files: FileStore, ctx: StepContext) -> Published:
    facts, approved = payload.facts, payload.marketing_approval.draft
    body = files.get_text(approved.body_key)
    body_sha = sha256_text(body)
    if body_sha != approved.body_sha256:
        raise PermanentIntegrationError(f"draft {approved.body_key} changed after it was approved")
    key = facts.published_key

    def write() -> Published:
        if files.exists(key) and sha256_text(files.get_text(key)) != body_sha:
            raise BusinessRuleError(f"another case study is already published at {key}; unpublish it first")
        uri = files.put_text(key, body, content_type=MARKDOWN)
        return Published(
            key=key,
            uri=uri,
            slug=facts.slug,
            body_sha256=body_sha,
            published_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )

    return run_once(
        workflow=ctx.workflow,
        step=ctx.step,
        key=business_action("case_study_publication", facts.deal_id),
        pinned={"key": key, "body_sha256": body_sha},
        result_model=Published,
        effect=write,
    )


@step_handler(PublishInput)
def handler(payload: PublishInput, ctx: StepContext) -> Published:
    return publish(payload, files=get_files(), ctx=ctx)
