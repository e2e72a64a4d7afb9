"""CDK app entry: one Stepwise stack per stage (``cdk deploy -c stage=dev``), checked by cdk-nag.

``make synth`` runs this with ``CDK_OUTDIR=cdk.out``; any unacknowledged AwsSolutions finding
fails the synthesis (the report lands in ``cdk.out/validation-report.json``).
"""

from __future__ import annotations

import aws_cdk as cdk

from infra.constants import FEATURE_FLAGS
from infra.nag import checks
from infra.stack import StepwiseStack

app = cdk.App(context=dict(FEATURE_FLAGS))
stage = str(app.node.try_get_context("stage") or "dev")
StepwiseStack(app, f"Stepwise-{stage}", stage=stage)
checks(app)
app.synth()
