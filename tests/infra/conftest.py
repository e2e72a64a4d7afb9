"""How infra tests synthesize: offline, without bundling the dependency layers (no pip, no Docker)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from infra.constants import ESCALATION_APPROVER_CONTEXT_KEY, FEATURE_FLAGS, SENDER_EMAIL_CONTEXT_KEY

#: CDK bundles assets only for the stacks this context lists; an empty list skips all bundling.
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}
#: The per-stage settings a non-local stage must be given (infra/stage_context.py), as a deploy would.
SENDER_EMAIL = "approvals@acme-demo.com"
ESCALATION_APPROVER = "ops-lead@acme-demo.com"
STAGE_CONTEXT: dict[str, str] = {
    SENDER_EMAIL_CONTEXT_KEY: SENDER_EMAIL,
    ESCALATION_APPROVER_CONTEXT_KEY: ESCALATION_APPROVER,
}


def offline_app(outdir: Path, **context: object) -> cdk.App:
    """The app as ``app.py`` builds it (same feature flags, real-looking stage settings), minus bundling."""
    return cdk.App(outdir=str(outdir), context={**FEATURE_FLAGS, **NO_BUNDLING, **STAGE_CONTEXT, **context})
