"""cdk-nag (AwsSolutions) acknowledgements: each one next to the grant that causes it, with a reason.

cdk-nag 3 reports through CDK's ``Validations`` API: ``Validations.of(app).add_plugins(...)`` makes
synthesis fail on any unacknowledged finding, and every finding must be acknowledged one by one
(``AwsSolutions-IAM5[Resource::<Logical.Arn>/index/*]``), so these helpers build the exact ids.

A finding spells a resource the way the template that holds the policy refers to it, and with one
nested stack per workflow that depends on where the policy sits: ``<Id.Arn>`` in the same stack,
``<referenceto<UniqueId>Arn>`` (a parameter) in a nested stack reading its parent, and
``<NestedStackResource.Outputs.<UniqueId>Name>`` in the parent reading a nested stack.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, IResource, Names, NestedStack, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge ``finding`` (e.g. ``AwsSolutions-SMG4``) on ``scope`` and everything below it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}::{finding}", reason=reason))


def arn_ref(resource: IResource, seen_from: IConstruct | None = None) -> str:
    """How cdk-nag spells ``resource``'s ARN in a finding on a policy in ``seen_from``'s stack."""
    return attribute_ref(_cfn(resource), "Arn", seen_from or resource)


def attribute_ref(element: CfnElement, attribute: str, seen_from: IConstruct) -> str:
    """How cdk-nag spells ``Fn::GetAtt [element, attribute]`` as seen from ``seen_from``'s template."""
    owner, viewer = Stack.of(element), Stack.of(seen_from)
    if owner is viewer:
        return f"<{owner.get_logical_id(element)}.{attribute}>"
    if isinstance(viewer, NestedStack) and viewer.nested_stack_parent is owner:
        # CDK passes the value in as a parameter named after the target's unique id.
        return f"<referenceto{Names.unique_id(element)}{attribute}>"
    if isinstance(owner, NestedStack) and owner.nested_stack_parent is viewer:
        # ... and hands a nested stack's value back as an output of the nested stack resource.
        resource = owner.nested_stack_resource
        assert resource is not None, owner.node.path
        return f"<{viewer.get_logical_id(resource)}.Outputs.{Names.unique_id(element)}{attribute}>"
    raise ValueError(f"no direct reference from {viewer.node.path} to {element.node.path}")


def _cfn(resource: IResource) -> CfnElement:
    default_child = resource.node.default_child
    assert isinstance(default_child, CfnElement), resource.node.path
    return default_child


def checks(app: IConstruct) -> None:
    """Run the AwsSolutions pack on every stack of ``app`` at synthesis."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
