"""Reading the ASL files: placeholders, substitution and which state runs which step.

The ASL file is the only definition of a flow. CDK passes the same placeholders as
``definition_substitutions``; the local runtime substitutes them with :func:`render`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from functions.registry import StepSpec, WorkflowSpec

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(asl_text: str) -> set[str]:
    return set(PLACEHOLDER.findall(asl_text))


class UnknownPlaceholder(KeyError):
    """An ASL file names a ``${...}`` placeholder nothing substitutes (a typo'd step name, usually)."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(f"no substitution for {self.missing}")

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def render(asl_text: str, substitutions: Mapping[str, str]) -> str:
    """Substitute every ``${Name}``; a placeholder without a value is an error, not a silent gap."""
    missing = placeholders(asl_text) - set(substitutions)
    if missing:
        raise UnknownPlaceholder(missing)
    return PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], asl_text)


@lru_cache(maxsize=16)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def definition(workflow: WorkflowSpec) -> dict[str, Any]:
    return _load(str(workflow.asl_path))


def iter_states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches and Map iterators."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from iter_states(processor["States"])


def state_steps(workflow: WorkflowSpec) -> dict[str, StepSpec]:
    """ASL state name → the registered step whose Lambda it invokes (Task states only)."""
    by_placeholder = {step.placeholder: step for step in workflow.steps}
    mapping: dict[str, StepSpec] = {}
    for name, state in iter_states(definition(workflow)["States"]):
        if state.get("Type") != "Task":
            continue
        found = placeholders(json.dumps(state))
        for placeholder in found:
            if placeholder in by_placeholder:
                mapping[name] = by_placeholder[placeholder]
    return mapping
