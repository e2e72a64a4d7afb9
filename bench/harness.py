"""How fast the local harness runs flows, and how long the whole test suite takes.

Each execution runs on a fresh ``LocalRuntime`` (the seed is consumed by a run: a contacted lead
is not contactable twice), and only the execution is timed: from ``start`` to its terminal status,
approvals answered as soon as they are pending. The runtime's setup is reported on its own.
No flow has exactly five steps without a person in it, so two real paths bracket it: the
sales-outreach disqualification (3 steps) and the approved and sent email (7 steps, one approval);
the 100 ms target is held against the 7-step one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.happy_paths import OFFLINE, Decider, approve, drive, example_input
from bench.report import Measurement
from functions.registry import ROOT
from local.runtime import LocalRuntime

MAX_MS_PER_EXECUTION = 100.0
MAX_SUITE_SECONDS = 300.0
SUITE_SECONDS_ENV = "STEPWISE_SUITE_SECONDS"


@dataclass(frozen=True)
class Flow:
    label: str
    workflow: str
    payload: Callable[[], dict[str, Any]]
    decide: Decider
    expected_status: str
    steps: int
    target_ms: float | None
    #: "approval": poll like the scenario tests (``drive``: history + approvals every 5 ms);
    #: "end": only ``describe_execution`` until the run ends (possible without approvals).
    poll: str = "approval"


FLOWS = (
    Flow(
        "sales_outreach disqualified (3 steps, no approval)",
        "sales_outreach",
        lambda: {**example_input("sales_outreach"), "lead_id": "L-300"},
        approve,
        "disqualified",
        3,
        None,
    ),
    Flow(
        "sales_outreach disqualified, polling for the end only",
        "sales_outreach",
        lambda: {**example_input("sales_outreach"), "lead_id": "L-300"},
        approve,
        "disqualified",
        3,
        None,
        poll="end",
    ),
    Flow(
        "sales_outreach approved and sent (7 steps, 1 approval)",
        "sales_outreach",
        lambda: example_input("sales_outreach"),
        approve,
        "sent",
        7,
        MAX_MS_PER_EXECUTION,
    ),
)


@dataclass(frozen=True)
class FlowTiming:
    flow: Flow
    execution_s: list[float]
    setup_s: list[float]
    statuses: set[str]


def _execute(flow: Flow) -> tuple[float, float, str]:
    """(setup seconds, execution seconds, outcome) of one execution on a fresh runtime."""
    started = time.perf_counter()
    with LocalRuntime(env=OFFLINE) as runtime:
        ready = time.perf_counter()
        if flow.poll == "end":
            arn = runtime.start(flow.workflow, flow.payload())
            runtime.wait(arn, timeout_s=120)
        else:
            arn = drive(runtime, flow.workflow, flow.payload(), flow.decide)
        done = time.perf_counter()
        output = runtime.result(arn).output or {}
    return ready - started, done - ready, str(output.get("status"))


def time_flow(flow: Flow, executions: int) -> FlowTiming:
    _execute(flow)  # unmeasured: the process's first run imports every handler module it touches
    setup_s, execution_s, statuses = [], [], set()
    for _ in range(executions):
        setup, execution, status = _execute(flow)
        setup_s.append(setup)
        execution_s.append(execution)
        statuses.add(status)
    return FlowTiming(flow, execution_s, setup_s, statuses)


#: Executions of the 3-step flow on one runtime, as a local server or the console runs them.
LONG_LIVED_EXECUTIONS = 200


def long_lived_drift(executions: int = LONG_LIVED_EXECUTIONS) -> Measurement:
    """How much slower the last 20 of ``executions`` runs on one runtime are than the first 20.

    Every run adds records (ledger, activities, idempotency, history): a runtime whose calls cost
    more as its tables grow gets slower all day. The lead is the same each time, so its activity
    partition does grow, as a busy contact's would.
    """
    flow = FLOWS[1]  # the disqualification, waited for without approvals
    timings = []
    with LocalRuntime(env=OFFLINE) as runtime:
        for _ in range(executions):
            started = time.perf_counter()
            arn = runtime.start(flow.workflow, flow.payload())
            described = runtime.wait(arn, timeout_s=120)
            timings.append(time.perf_counter() - started)
            outcome = json.loads(described.get("output") or "{}").get("status")
            if described["status"] != "SUCCEEDED" or outcome != flow.expected_status:
                raise RuntimeError(f"{arn} ended {described['status']} ({outcome})")
    # Fastest of each 20: the host's load moves a median by ±30%, a table that grows moves all 20.
    first, last = min(timings[:20]) * 1000, min(timings[-20:]) * 1000
    return Measurement(
        "harness",
        f"{flow.workflow} disqualified on one runtime: last 20 of {executions} / first 20",
        last / first,
        "x",
        note=f"fastest {first:.1f} ms -> {last:.1f} ms per execution",
    )


def suite_seconds(run_suite: bool, given: float | None) -> tuple[float | None, str]:
    """The suite's wall time and where it comes from: measured (``--suite``), given, or the env."""
    if run_suite:
        started = time.perf_counter()
        # What ``make test`` runs (pyproject's addopts add -q; a second -q would drop the summary line).
        command = [sys.executable, "-m", "pytest", "-n", "2"]
        env = {**os.environ, "STEPWISE_ASL_COVERAGE": "strict"}
        completed = subprocess.run(  # noqa: S603
            command, cwd=ROOT, check=False, capture_output=True, text=True, env=env
        )
        seconds = time.perf_counter() - started
        summaries = [line for line in completed.stdout.splitlines() if " passed" in line or " failed" in line]
        last = summaries[-1].strip("= ") if summaries else "no summary line"
        return seconds, f"measured by --suite (pytest -n 2): exit {completed.returncode}, {last}"
    if given is not None:
        return given, "given (--suite-seconds)"
    from_env = os.environ.get(SUITE_SECONDS_ENV)
    return (float(from_env), f"given (${SUITE_SECONDS_ENV})") if from_env else (None, "")


def measure(
    executions: int = 10, *, run_suite: bool = False, given_suite_s: float | None = None
) -> list[Measurement]:
    rows = []
    for flow in FLOWS:
        timing = time_flow(flow, executions)
        per_execution_ms = statistics.mean(timing.execution_s) * 1000
        wrong = timing.statuses - {flow.expected_status}
        note = (
            f"{1000 / per_execution_ms:.1f} executions/s, {per_execution_ms / flow.steps:.1f} ms per step, "
            f"runtime setup {statistics.median(timing.setup_s) * 1000:.0f} ms (not counted), n={executions}"
        )
        if wrong:
            note += f"; UNEXPECTED outcome {sorted(wrong)}"
        rows.append(
            Measurement(
                "harness",
                f"{flow.label}: ms per execution",
                per_execution_ms,
                "ms",
                target=flow.target_ms,
                note=note,
            )
        )
    rows.append(long_lived_drift())
    seconds, source = suite_seconds(run_suite, given_suite_s)
    if seconds is None:
        rows.append(
            Measurement(
                "harness",
                "make test wall time",
                0,
                "s",
                note=f"not measured: pass --suite (pytest -n 2) or --suite-seconds / {SUITE_SECONDS_ENV}",
            )
        )
    else:
        rows.append(
            Measurement(
                "harness",
                "whole test suite wall time (2 workers)",
                seconds,
                "s",
                target=MAX_SUITE_SECONDS,
                note=source,
            )
        )
    return rows
