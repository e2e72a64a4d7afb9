"""The Stepwise CDK stack.

Skeleton only: issue #3 fills it with the workflow construct (one Lambda per registered step, the
state machine from ``statemachines/<workflow>.asl.json``), storage, API and observability. It is
here so that ``app.py`` and ``cdk.json`` have their final shape.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct


class StepwiseStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("stepwise:stage", stage)
