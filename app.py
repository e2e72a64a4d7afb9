"""CDK app entry: one Stepwise stack per stage (``cdk deploy -c stage=dev``)."""

from __future__ import annotations

import aws_cdk as cdk

from infra.stack import StepwiseStack

app = cdk.App()
stage = str(app.node.try_get_context("stage") or "dev")
StepwiseStack(app, f"Stepwise-{stage}", stage=stage)
app.synth()
