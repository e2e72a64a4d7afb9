"""State transitions per happy-path run: what Standard Workflows bill ($0.025 per 1,000).

Counted from the execution history: every ``...StateEntered`` event is one transition (a Map
iteration's states count too, as AWS bills them). The target is the number of steps the run
executed (``TaskStateEntered``: one Lambda step each) plus 2, so a flow may spend at most two
states on routing (Choice, Pass, Succeed) beyond the work itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bench.happy_paths import Run
from bench.report import Measurement

ALLOWED_EXTRA_TRANSITIONS = 2
USD_PER_TRANSITION = 0.025 / 1000


@dataclass(frozen=True)
class TransitionCount:
    workflow: str
    status: str
    transitions: int
    tasks: int
    by_type: dict[str, int]  # e.g. {"Task": 8, "Choice": 2}

    @property
    def target(self) -> int:
        return self.tasks + ALLOWED_EXTRA_TRANSITIONS


def count(run: Run) -> TransitionCount:
    entered = Counter(
        event["type"].removesuffix("StateEntered")
        for event in run.history
        if event["type"].endswith("StateEntered")
    )
    return TransitionCount(
        workflow=run.workflow,
        status=f"{run.status}/{(run.output or {}).get('status', '?')}",
        transitions=sum(entered.values()),
        tasks=entered.get("Task", 0),
        by_type=dict(entered),
    )


def measure(runs: list[Run]) -> list[Measurement]:
    rows = []
    for run in runs:
        if run.index != 0:
            continue  # the second run takes the same path
        counted = count(run)
        others = ", ".join(f"{n} {kind}" for kind, n in sorted(counted.by_type.items()) if kind != "Task")
        rows.append(
            Measurement(
                "transitions",
                f"{run.workflow}: happy path ({counted.status})",
                counted.transitions,
                "transitions",
                target=counted.target,
                note=f"{counted.tasks} steps + {others or 'nothing else'};"
                f" ${counted.transitions * USD_PER_TRANSITION:.6f} per run",
            )
        )
    return rows
