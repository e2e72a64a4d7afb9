"""How infra tests synthesize: offline, without bundling the dependency layers (no pip, no Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk

from functions.shared.api_clients import LOCAL_FILE as API_CLIENTS_FILE
from functions.shared.approvers import LOCAL_FILE
from infra.constants import (
    API_CLIENTS_CONTEXT_KEY,
    APPROVERS_CONTEXT_KEY,
    ESCALATION_APPROVER_CONTEXT_KEY,
    FEATURE_FLAGS,
    SENDER_EMAIL_CONTEXT_KEY,
)

#: CDK bundles assets only for the stacks this context lists; an empty list skips all bundling.
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}
#: The per-stage settings a non-local stage must be given (infra/stage_context.py), as a deploy would.
SENDER_EMAIL = "approvals@acme-demo.com"
ESCALATION_APPROVER = "ops-lead@acme-demo.com"
#: The approver directory the examples and tests use (a JSON object in the context, as in cdk.json).
APPROVERS_JSON = LOCAL_FILE.read_text(encoding="utf-8")
STAGE_CONTEXT: dict[str, object] = {
    SENDER_EMAIL_CONTEXT_KEY: SENDER_EMAIL,
    ESCALATION_APPROVER_CONTEXT_KEY: ESCALATION_APPROVER,
    APPROVERS_CONTEXT_KEY: json.loads(APPROVERS_JSON),
    API_CLIENTS_CONTEXT_KEY: json.loads(API_CLIENTS_FILE.read_text(encoding="utf-8")),
}


def offline_app(outdir: Path, **context: object) -> cdk.App:
    """The app as ``app.py`` builds it (same feature flags, real-looking stage settings), minus bundling."""
    return cdk.App(outdir=str(outdir), context={**FEATURE_FLAGS, **NO_BUNDLING, **STAGE_CONTEXT, **context})
