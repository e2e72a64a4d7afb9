"""Tiny test-only state machines and handlers for ``test_aws_limits.py``, run by the same runtime.

Each flow is a :class:`FlowSpec`: a ``WorkflowSpec`` whose ASL is written to a temporary file,
with steps whose handlers live here. ``LocalRuntime(workflows=[...])`` deploys it like a real
workflow; the ASL coverage gate ignores flows that have no file in ``statemachines/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.registry import StepKind, StepSpec, WorkflowSpec
from local import limits

#: What ``deadline_loop`` completed in its last invocation (the test reads it after the run).
COMPLETED: list[int] = []


def sized(event: dict[str, Any], _context: Any) -> dict[str, str]:
    """A result of exactly ``event["payload"]["bytes"]`` bytes as compact UTF-8 JSON."""
    size = int(event["payload"]["bytes"])
    return {"b": "x" * (size - len('{"b":""}'))}


def fail_at(event: dict[str, Any], _context: Any) -> dict[str, int]:
    index = int(event["payload"]["i"])
    if index == int(event["payload"]["fail_at"]):
        raise RuntimeError(f"item {index} failed")
    return {"i": index}


def remaining(_event: dict[str, Any], context: Any) -> dict[str, int]:
    """Budgets by the context, as code that stops before its deadline would."""
    limits.simulate_latency(12.0)  # as a slow call would take
    return {"remaining_ms": context.get_remaining_time_in_millis()}


def deadline_loop(_event: dict[str, Any], _context: Any) -> dict[str, int]:
    """Ten units of work of 7 s each (simulated); records each one it finished."""
    COMPLETED.clear()
    for unit in range(10):
        limits.simulate_latency(7.0)
        COMPLETED.append(unit)
    return {"done": len(COMPLETED)}


def quick(_event: dict[str, Any], _context: Any) -> dict[str, bool]:
    return {"ok": True}


STEPS = {
    name: StepSpec(name=name, handler=f"{__name__}.{name}", kind=StepKind.PURE, timeout_seconds=30)
    for name in ("sized", "fail_at", "remaining", "deadline_loop", "quick")
}


@dataclass(frozen=True)
class FlowSpec(WorkflowSpec):
    path: Path = Path()

    @property
    def asl_path(self) -> Path:
        return self.path


def flow(directory: Path, name: str, definition: dict[str, Any]) -> FlowSpec:
    path = directory / f"{name}.asl.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    return FlowSpec(
        name=name,
        description="test-only",
        input_model="builtins.dict",
        business_key="",
        steps=tuple(STEPS.values()),
        path=path,
    )


def task(step: str, **fields: Any) -> dict[str, Any]:
    """A Lambda task state as the project's ASL writes them (payload, state name, attempt)."""
    return {
        "Type": "Task",
        "Resource": f"${{{STEPS[step].placeholder}}}",
        "Parameters": {"payload.$": "$", "state.$": "$$.State.Name", "attempt.$": "$$.State.RetryCount"},
        **fields,
    }
