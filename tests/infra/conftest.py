"""How infra tests synthesize: offline, without bundling the dependency layers (no pip, no Docker)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from infra.constants import FEATURE_FLAGS

#: CDK bundles assets only for the stacks this context lists; an empty list skips all bundling.
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


def offline_app(outdir: Path) -> cdk.App:
    """The app as ``app.py`` builds it (same feature flags), minus bundling."""
    return cdk.App(outdir=str(outdir), context={**FEATURE_FLAGS, **NO_BUNDLING})
