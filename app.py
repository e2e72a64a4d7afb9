"""CDK app entry: one Stepwise stack per stage (``cdk deploy -c stage=dev``), checked by cdk-nag.

``make synth`` runs this with ``CDK_OUTDIR=cdk.out``; any unacknowledged AwsSolutions finding
fails the synthesis (the report lands in ``cdk.out/validation-report.json``).

The per-stage settings (``senderEmail``, ``escalationApprover``, optionally ``approvalLinkBaseUrl``:
``infra/stage_context.py``) come from the context. cdk.json's ``context`` is read here too, so
``python app.py`` (``make synth``) sees what ``cdk synth`` sees; ``-c`` values from the cdk CLI take
precedence over it, as they do over cdk.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk

from infra.constants import FEATURE_FLAGS, STAGE_CONTEXT_KEY
from infra.nag import checks
from infra.stack import StepwiseStack

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"

cdk_json_context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
app = cdk.App(context={**cdk_json_context, **FEATURE_FLAGS})
stage = str(app.node.try_get_context(STAGE_CONTEXT_KEY) or "dev")
StepwiseStack(app, f"Stepwise-{stage}", stage=stage)
checks(app)
app.synth()
