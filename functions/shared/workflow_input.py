"""Validating an execution's input against its workflow's model: one place for the API and the CLI.

Errors come back as ``[{"field", "message"}]``, the API's 400 body (design contract).
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from functions.registry import WorkflowSpec


class InputRejected(ValueError):
    """The execution input failed the workflow's input model; ``errors`` as the API returns them."""

    def __init__(self, workflow: str, errors: list[dict[str, str]]) -> None:
        self.workflow = workflow
        self.errors = errors
        super().__init__(
            f"invalid input for {workflow}: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        )


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors()
    ]


def input_model(workflow: WorkflowSpec) -> type[BaseModel]:
    module_name, attribute = workflow.input_model.rsplit(".", 1)
    model: type[BaseModel] = getattr(importlib.import_module(module_name), attribute)
    return model


def validate_input(workflow: WorkflowSpec, payload: Any) -> dict[str, Any]:
    """The workflow's input, validated and normalised, or :class:`InputRejected` with field errors."""
    try:
        return input_model(workflow).model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        raise InputRejected(workflow.name, field_errors(exc)) from exc
