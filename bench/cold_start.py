"""Cold start: what a fresh interpreter pays to import each step's handler module.

Each import runs in its own ``python`` subprocess (nothing cached in-process), side by side with
``import boto3`` (which every Lambda runtime pays anyway), several times, and the median is kept.
The environment looks like Lambda's (``LAMBDA_TASK_ROOT`` set), because Powertools' Tracer and the
X-Ray SDK take a different, cheaper path there than on a laptop. Bytecode caches are allowed (one
unmeasured run writes them first), as in a deployment artifact with precompiled bytecode.

``-X importtime`` tells whether a handler module loads ``anthropic`` (~0.9 s) or its HTTP stack:
a step without the LLM must never load it, and an LLM step loads it only when it builds the client.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bench.report import Measurement
from functions.registry import ROOT, WORKFLOWS, StepSpec

#: Cold start of a step module may cost at most this many times ``import boto3``.
MAX_RATIO_TO_BOTO3 = 3.0
#: Top-level packages only an LLM step may load, and only when it builds its client.
LLM_ONLY_PACKAGES = frozenset({"anthropic", "httpx", "httpx2"})
BASELINE = "boto3"


def lambda_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment, made to look like a Lambda execution environment."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "stepwise-bench",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
            "AWS_REGION": env.get("AWS_REGION", "us-east-1"),
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "STEPWISE_LLM_FORCE_OFFLINE": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class ImportProfile:
    """What one fresh ``import <module>`` loaded."""

    module: str
    loaded: frozenset[str]  # every module in sys.modules afterwards
    cumulative_us: Mapping[str, int]  # -X importtime's cumulative microseconds per module

    def llm_packages(self) -> list[str]:
        """The LLM-only top-level packages this import loaded (empty for a clean step)."""
        return sorted({name.split(".", 1)[0] for name in self.loaded} & LLM_ONLY_PACKAGES)


def profile_import(module: str, env: Mapping[str, str] | None = None) -> ImportProfile:
    """``python -X importtime -c "import <module>"`` in a fresh interpreter."""
    code = f"import sys, {module}\nprint('\\n'.join(sorted(sys.modules)))"
    completed = subprocess.run(  # noqa: S603 - our interpreter, a module name from the registry
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else lambda_env(),
        cwd=ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{completed.stderr[-2000:]}")
    cumulative: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, _self, total, name = (part.strip() for part in line.replace("import time:", "|", 1).split("|"))
        cumulative.setdefault(name, int(total))
    return ImportProfile(module, frozenset(completed.stdout.split()), cumulative)


def llm_packages_by_module(modules: list[str], env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """For each module, imported one after the other in one fresh ``-X importtime`` interpreter,
    the LLM-only packages its import added. The first module that loads one is named; the ones
    after it cannot add it again, but the check has failed by then (cheaper than one process each).
    """
    code = (
        "import json, sys\n"
        f"packages = {sorted(LLM_ONLY_PACKAGES)!r}\n"
        "found = {}\n"
        f"for module in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    __import__(module)\n"
        "    added = {name.split('.', 1)[0] for name in set(sys.modules) - before}\n"
        "    found[module] = sorted(added & set(packages))\n"
        "print(json.dumps(found))"
    )
    completed = subprocess.run(  # noqa: S603 - our interpreter, module names from the registry
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else lambda_env(),
        cwd=ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {modules} failed:\n{completed.stderr[-2000:]}")
    imported_names = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()}
    found: dict[str, list[str]] = json.loads(completed.stdout)
    for module, packages in found.items():  # -X importtime saw what sys.modules says was loaded
        assert set(packages) <= imported_names, (module, packages)
    return found


def time_import(code: str, env: Mapping[str, str]) -> float:
    """Wall seconds of ``python -c <code>`` (interpreter start included, as in a cold start)."""
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our interpreter and our own code string
        [sys.executable, "-c", code], env=dict(env), cwd=ROOT, check=True, capture_output=True
    )
    return time.perf_counter() - started


def _first_client_code(module: str) -> str:
    """Import an LLM step and build its SDK client (offline): the cost its first invocation adds."""
    return (
        f"import {module}\n"
        "from functions.shared.llm.factory import build_anthropic\n"
        "from functions.shared.llm.settings import llm_settings\n"
        "build_anthropic(llm_settings())"
    )


@dataclass(frozen=True)
class StepColdStart:
    workflow: str
    step: StepSpec
    median_s: float
    ratio: float
    llm_packages: list[str]
    first_call_s: float | None  # LLM steps: import + building the SDK client


def _unique_steps() -> list[tuple[str, StepSpec]]:
    return [(wf.name, step) for wf in WORKFLOWS.values() for step in wf.steps]


def measure_steps(repeats: int) -> tuple[float, list[StepColdStart]]:
    """Median import time of every step module, and its median ratio to an ``import boto3`` run
    right next to it (the pair sees the same machine load, which drifts on a shared machine)."""
    env = lambda_env()
    steps = _unique_steps()
    profiles = {step.module: profile_import(step.module, env) for _, step in steps}  # also warms caches
    profile_import(BASELINE, env)
    baseline_samples: list[float] = []
    samples: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for _ in range(repeats):
        for _, step in steps:
            boto3_s = time_import(f"import {BASELINE}", env)
            step_s = time_import(f"import {step.module}", env)
            baseline_samples.append(boto3_s)
            samples.setdefault(step.module, []).append(step_s)
            ratios.setdefault(step.module, []).append(step_s / boto3_s)
    results = []
    for workflow, step in steps:
        first_call = time_import(_first_client_code(step.module), env) if step.uses_llm else None
        results.append(
            StepColdStart(
                workflow=workflow,
                step=step,
                median_s=statistics.median(samples[step.module]),
                ratio=statistics.median(ratios[step.module]),
                llm_packages=profiles[step.module].llm_packages(),
                first_call_s=first_call,
            )
        )
    return statistics.median(baseline_samples), results


def _worst(rows: Iterable[StepColdStart]) -> StepColdStart | None:
    return max(rows, key=lambda row: row.ratio, default=None)


def measure(repeats: int = 5) -> tuple[list[Measurement], list[StepColdStart]]:
    baseline, steps = measure_steps(repeats)
    section = "cold start"
    rows = [
        Measurement(section, "python -c 'import boto3' (baseline)", baseline * 1000, "ms", note="median"),
    ]
    for workflow in WORKFLOWS:
        for uses_llm in (False, True):
            kind = "LLM" if uses_llm else "non-LLM"
            worst = _worst(s for s in steps if s.workflow == workflow and s.step.uses_llm is uses_llm)
            if worst is None:
                continue
            rows.append(
                Measurement(
                    section,
                    f"{workflow}: slowest {kind} step import / boto3",
                    worst.ratio,
                    "x",
                    target=MAX_RATIO_TO_BOTO3,
                    note=f"{worst.step.name}: {worst.median_s * 1000:.0f} ms",
                )
            )
    leaking = [s for s in steps if not s.step.uses_llm and s.llm_packages]
    eager = [s for s in steps if s.step.uses_llm and s.llm_packages]
    rows.append(
        Measurement(
            section,
            "non-LLM steps importing anthropic/httpx",
            len(leaking),
            "steps",
            target=0,
            note=", ".join(f"{s.workflow}.{s.step.name}" for s in leaking) or "checked with -X importtime",
        )
    )
    rows.append(
        Measurement(
            section,
            "LLM steps importing anthropic at module import",
            len(eager),
            "steps",
            target=0,
            note=", ".join(f"{s.workflow}.{s.step.name}" for s in eager) or "loaded when the client is built",
        )
    )
    slowest_first_call = max(
        (s for s in steps if s.first_call_s is not None), key=lambda s: s.first_call_s or 0.0, default=None
    )
    if slowest_first_call is not None and slowest_first_call.first_call_s is not None:
        rows.append(
            Measurement(
                section,
                "LLM step import + first client build (slowest)",
                slowest_first_call.first_call_s * 1000,
                "ms",
                note=f"{slowest_first_call.workflow}.{slowest_first_call.step.name}; the SDK import moved"
                " to the first invocation, it did not disappear",
            )
        )
    return rows, steps


def details_markdown(steps: list[StepColdStart]) -> str:
    """Every step's median, for the doc's appendix."""
    lines = [
        "| workflow | step | LLM | import median | / boto3 | LLM packages at import | + first client build |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        first = f"{s.first_call_s * 1000:.0f} ms" if s.first_call_s is not None else ""
        llm = "yes" if s.step.uses_llm else ""
        lines.append(
            f"| {s.workflow} | {s.step.name} | {llm} | {s.median_s * 1000:.0f} ms"
            f" | {s.ratio:.2f} | {', '.join(s.llm_packages) or 'none'} | {first} |"
        )
    return "\n".join(lines)
