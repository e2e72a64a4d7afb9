"""cdk-nag (AwsSolutions) acknowledgements: each one next to the grant that causes it, with a reason.

cdk-nag 3 reports through CDK's ``Validations`` API: ``Validations.of(app).add_plugins(...)`` makes
synthesis fail on any unacknowledged finding, and every finding must be acknowledged one by one
(``AwsSolutions-IAM5[Resource::<Logical.Arn>/index/*]``), so these helpers build the exact ids.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, IResource, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge ``finding`` (e.g. ``AwsSolutions-SMG4``) on ``scope`` and everything below it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}::{finding}", reason=reason))


def arn_ref(resource: IResource) -> str:
    """How cdk-nag spells ``resource``'s ARN in a finding id: ``<LogicalId.Arn>``."""
    default_child = resource.node.default_child
    assert isinstance(default_child, CfnElement), resource.node.path
    return f"<{Stack.of(resource).get_logical_id(default_child)}.Arn>"


def checks(app: IConstruct) -> None:
    """Run the AwsSolutions pack on every stack of ``app`` at synthesis."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
