"""The synthesized Stepwise app as one resource map, nested workflow templates merged in.

Each workflow is a nested stack with a template of its own, so a step role's policy names the CRM
table through a parameter (``{"Ref": "referencetoStepwise...Arn"}``) and the API names a state
machine through a nested stack output. Tests care about *what* is referenced, not how CloudFormation
wires it, so :func:`merge` resolves those hops back to the resource itself and qualifies every
logical id with the nested stack it lives in (``SalesOutreachWorkflow/Workflow...``); the parent
stack's ids stay bare. :func:`qualified_id` gives the same id for a construct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.stack import StepwiseStack

OUTPUTS_PREFIX = "Outputs."


def qualified_id(construct: Any) -> str:
    """The merged-map id of ``construct`` (a CfnElement or an L2 with a default child)."""
    element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
    element = cast(cdk.CfnElement, element)
    stack = cdk.Stack.of(element)
    logical_id = stack.resolve(stack.get_logical_id(element))
    return f"{stack.node.id}/{logical_id}" if isinstance(stack, cdk.NestedStack) else str(logical_id)


@dataclass(frozen=True)
class MergedTemplate:
    stack: StepwiseStack
    resources: dict[str, Any]  # qualified id → resource, references resolved across stacks
    templates: dict[str, dict[str, Any]]  # stack node id → its raw template (for cfn-lint and counts)

    def logical_id(self, construct: Any) -> str:
        return qualified_id(construct)

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == resource_type}


def merge(stack: StepwiseStack) -> MergedTemplate:
    parent = cast(dict[str, Any], Template.from_stack(stack).to_json())
    templates = {stack.node.id: parent}
    nested_by_resource: dict[str, tuple[str, dict[str, Any]]] = {}
    for workflow_stack in stack.workflow_stacks.values():
        template = cast(dict[str, Any], Template.from_stack(workflow_stack).to_json())
        templates[workflow_stack.node.id] = template
        resource = workflow_stack.nested_stack_resource
        assert resource is not None
        nested_by_resource[stack.resolve(stack.get_logical_id(resource))] = (workflow_stack.node.id, template)

    def resolve(value: Any, prefix: str, parameters: dict[str, Any]) -> Any:
        if isinstance(value, list):
            return [resolve(v, prefix, parameters) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return resolve_ref(value["Ref"], prefix, parameters)
        if set(value) == {"Fn::GetAtt"}:
            target, attribute = value["Fn::GetAtt"]
            if target in nested_by_resource and attribute.startswith(OUTPUTS_PREFIX):
                nested_id, template = nested_by_resource[target]
                output = template["Outputs"][attribute[len(OUTPUTS_PREFIX) :]]["Value"]
                return resolve(output, f"{nested_id}/", _parameters_of(parent, target))
            return {"Fn::GetAtt": [prefix + target, attribute]}
        return {k: resolve(v, prefix, parameters) for k, v in value.items()}

    def resolve_ref(name: str, prefix: str, parameters: dict[str, Any]) -> Any:
        if name in parameters:  # a nested stack's parameter: the parent's value, in the parent's ids
            return resolve(parameters[name], "", {})
        return {"Ref": name if name.startswith("AWS::") else prefix + name}

    resources: dict[str, Any] = {}
    for lid, resource in parent["Resources"].items():
        resources[lid] = resolve(resource, "", {})
    for nested_lid, (nested_id, template) in nested_by_resource.items():
        parameters = _parameters_of(parent, nested_lid)
        for lid, resource in template["Resources"].items():
            resolved = resolve(resource, f"{nested_id}/", parameters)
            if "DependsOn" in resolved:
                depends = resolved["DependsOn"]
                resolved["DependsOn"] = [
                    f"{nested_id}/{d}" for d in ([depends] if isinstance(depends, str) else depends)
                ]
            resources[f"{nested_id}/{lid}"] = resolved
    return MergedTemplate(stack=stack, resources=resources, templates=templates)


def _parameters_of(parent: dict[str, Any], nested_lid: str) -> dict[str, Any]:
    return cast(dict[str, Any], parent["Resources"][nested_lid]["Properties"].get("Parameters", {}))
