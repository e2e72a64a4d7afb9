"""Validating an execution's input against its workflow's model: one place for the API and the CLI.

Errors come back as ``[{"field", "message"}]``, the API's 400 body (design contract).

Approvers are the server's decision (``functions/shared/approvers.py``): an approver field left out
(or null) gets the stage directory's default, and one that is given must be among its allowed; where
the field has amount tiers, the request's amount picks the tier both are read from. With a
``requester`` (the starting client's owner), no field may end up with that address
(``functions/shared/requester.py``): a default is rerouted, a named one refused.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from functions.registry import WorkflowSpec
from functions.shared.approvers import AMOUNT_FIELDS, APPROVER_FIELDS, ApproverDirectory, approver_directory
from functions.shared.config import settings
from functions.shared.models import EMAIL_PATTERN
from functions.shared.requester import SelfApproval, approver_other_than


class InputRejected(ValueError):
    """The execution input failed the workflow's input model; ``errors`` as the API returns them."""

    def __init__(self, workflow: str, errors: list[dict[str, str]]) -> None:
        self.workflow = workflow
        self.errors = errors
        super().__init__(
            f"invalid input for {workflow}: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        )


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors in words a caller reads: no regular expressions, no Python class names."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": _message(err)}
        for err in exc.errors()
    ]


def _message(err: ErrorDetails) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "string_pattern_mismatch":
        return "not a valid email address" if ctx.get("pattern") == EMAIL_PATTERN else "has the wrong format"
    if err["type"] in ("model_type", "model_attributes_type", "dataclass_type"):
        return "must be a JSON object"
    if "class_name" in ctx:  # any other message that would name a Python class
        return "has the wrong type"
    return err["msg"]


def input_model(workflow: WorkflowSpec) -> type[BaseModel]:
    module_name, attribute = workflow.input_model.rsplit(".", 1)
    model: type[BaseModel] = getattr(importlib.import_module(module_name), attribute)
    return model


def validate_input(workflow: WorkflowSpec, payload: Any, requester: str | None = None) -> dict[str, Any]:
    """The workflow's input, validated and normalised, or :class:`InputRejected` with field errors.

    ``requester``: the owner of the client starting the run, who must not approve it.
    """
    fields = APPROVER_FIELDS.get(workflow.name, ())
    directory = approver_directory(settings()) if fields else None
    named: set[str] = set()
    if directory is not None and isinstance(payload, dict):
        named = {f for f in fields if payload.get(f) is not None}
        payload = _with_default_approvers(workflow.name, fields, directory, payload)
    try:
        document = input_model(workflow).model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        raise InputRejected(workflow.name, field_errors(exc)) from exc
    if directory is not None:
        _check_approvers(workflow.name, fields, directory, document)
        document = _not_the_requester(workflow.name, fields, directory, document, requester, named)
    return document


def _not_the_requester(
    workflow: str,
    fields: tuple[str, ...],
    directory: ApproverDirectory,
    document: dict[str, Any],
    requester: str | None,
    named: set[str],
) -> dict[str, Any]:
    """Each approver field with an address other than the requester's (or a field error)."""
    errors, chosen = [], dict(document)
    for field in fields:
        try:
            chosen[field] = approver_other_than(
                requester,
                chosen=str(document[field]),
                allowed=directory.choice(workflow, field, _amount(workflow, field, document)).allowed,
                named=field in named,
            )
        except SelfApproval as exc:
            errors.append({"field": field, "message": str(exc)})
    if errors:
        raise InputRejected(workflow, errors)
    return chosen


def _with_default_approvers(
    workflow: str, fields: tuple[str, ...], directory: ApproverDirectory, payload: dict[str, Any]
) -> dict[str, Any]:
    """The payload with each approver field it leaves out (or sets to null) set to the default."""
    defaults = {}
    for field in fields:
        amount = _amount(workflow, field, payload)
        if payload.get(field) is None and (amount is not None or (workflow, field) not in AMOUNT_FIELDS):
            defaults[field] = directory.choice(workflow, field, amount).default
    return {**payload, **defaults}


def _amount(workflow: str, field: str, document: dict[str, Any]) -> int | None:
    """The amount (cents) that picks ``field``'s tier, if the field has one and it is a number yet."""
    amount_field = AMOUNT_FIELDS.get((workflow, field))
    value = document.get(amount_field) if amount_field else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_approvers(
    workflow: str, fields: tuple[str, ...], directory: ApproverDirectory, document: dict[str, Any]
) -> None:
    errors = [
        {
            "field": field,
            "message": f"not an approver for {workflow}"
            + (" at this amount" if (workflow, field) in AMOUNT_FIELDS else "")
            + ": leave it out for the default, or name one the approver directory allows",
        }
        for field in fields
        if document.get(field)
        not in directory.choice(workflow, field, _amount(workflow, field, document)).allowed
    ]
    if errors:
        raise InputRejected(workflow, errors)
