"""The ASL path-coverage gate: which states and edges of every ASL file the scenario suite exercised.

Every :class:`~local.runtime.LocalRuntime` hands each execution's history to an observer when it
closes (runs started through the API included). Each pytest process (xdist worker or not)
appends one JSON line per execution to a file in a session directory the controller creates and
passes to its workers; the controller aggregates them at the end and prints one row per
``statemachines/*.asl.json`` (states covered/total, edges covered/total, retry rules seen) with
the list of what is missing.

``STEPWISE_ASL_COVERAGE=strict`` (``make test``) fails the session when any state or edge of any
ASL file was never exercised, or when a history showed a move the ASL does not declare. Without
it the table is printed, without failing, when the whole ``tests/`` directory was collected;
running one test file prints nothing and never fails for coverage.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from functions.registry import STATEMACHINES_DIR
from tests.asl_paths import Edge, FlowGraph, describe, flow_graph, path_taken

MODE_ENV = "STEPWISE_ASL_COVERAGE"
STRICT = "strict"
WORKER_INPUT_KEY = "stepwise_asl_coverage_dir"
TESTS_DIR = Path(__file__).resolve().parent


#: Edges no step fault can drive, each with the reason; listed in the table as "not drivable",
#: never silently dropped. Keep it short: an entry here is a claim a reviewer must be able to check.
NOT_DRIVABLE: dict[tuple[str, Edge], str] = {}


def asl_files(directory: Path = STATEMACHINES_DIR) -> dict[str, Path]:
    """Every flow the gate covers: each ``*.asl.json``, whether or not a test deploys it."""
    return {path.name.removesuffix(".asl.json"): path for path in sorted(directory.glob("*.asl.json"))}


@cache
def graph_of(path: Path) -> FlowGraph:
    return flow_graph(json.loads(path.read_text(encoding="utf-8")))


def record(workflow: str, events: list[dict[str, Any]], files: Mapping[str, Path]) -> dict[str, Any]:
    """One execution as a JSON-safe line: the states it entered and the edges it took."""
    if workflow not in files:
        return {"workflow": workflow, "states": [], "edges": [], "unexplained": ["no ASL file"]}
    taken = path_taken(graph_of(files[workflow]), events)
    return {
        "workflow": workflow,
        "states": sorted(taken.states),
        "edges": [[e.source, e.target, e.label] for e in sorted(taken.edges)],
        "unexplained": taken.unexplained,
    }


@dataclass
class FlowCoverage:
    name: str
    graph: FlowGraph
    states: set[str] = field(default_factory=set)
    edges: set[Edge] = field(default_factory=set)
    unexplained: set[str] = field(default_factory=set)
    executions: int = 0

    @property
    def missing_states(self) -> list[str]:
        return sorted(self.graph.states - self.states)

    @property
    def not_drivable(self) -> dict[Edge, str]:
        return {edge: why for (flow, edge), why in NOT_DRIVABLE.items() if flow == self.name}

    @property
    def missing_edges(self) -> list[Edge]:
        return sorted(self.graph.edges - self.edges - set(self.not_drivable))

    @property
    def retries_seen(self) -> int:
        return len(self.graph.retries & self.edges)

    @property
    def complete(self) -> bool:
        return not self.missing_states and not self.missing_edges and not self.unexplained


def aggregate(lines: Iterable[Mapping[str, Any]], files: Mapping[str, Path]) -> dict[str, FlowCoverage]:
    flows = {name: FlowCoverage(name, graph_of(path)) for name, path in files.items()}
    for line in lines:
        flow = flows.get(line["workflow"])
        if flow is None:  # a runtime deployed a flow whose ASL file is gone: nothing to cover
            continue
        flow.executions += 1
        flow.states.update(line["states"])
        flow.edges.update(Edge(*edge) for edge in line["edges"])
        flow.unexplained.update(line["unexplained"])
    return flows


def render(flows: Mapping[str, FlowCoverage]) -> list[str]:
    """The table, then what is missing per flow (how to read it: README, "Reliability")."""
    lines = [f"{'flow':<18}{'runs':>6}{'states':>10}{'edges':>10}{'retry rules seen':>18}"]
    for flow in flows.values():
        graph = flow.graph
        states = f"{len(graph.states & flow.states)}/{len(graph.states)}"
        edges = f"{len(graph.edges & flow.edges)}/{len(graph.edges)}"
        retries = f"{flow.retries_seen}/{len(graph.retries)}"
        lines.append(f"{flow.name:<18}{flow.executions:>6}{states:>10}{edges:>10}{retries:>18}")
    for flow in flows.values():
        lines += [f"{flow.name}: state never entered: {state}" for state in flow.missing_states]
        lines += [f"{flow.name}: edge never taken: {describe(flow.graph, e)}" for e in flow.missing_edges]
        for edge, why in flow.not_drivable.items():
            taken = " (taken anyway)" if edge in flow.edges else ""
            lines.append(f"{flow.name}: not drivable{taken}: {describe(flow.graph, edge)}: {why}")
        lines += [f"{flow.name}: history the ASL does not explain: {u}" for u in sorted(flow.unexplained)]
    return lines


def read_lines(directory: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        loaded += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return loaded


def whole_suite(args: Iterable[str], keyword: str, markexpr: str) -> bool:
    """True when the run collected all of ``tests/`` (no ``-k``/``-m`` filter)."""
    if keyword or markexpr:
        return False
    for arg in args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if "::" not in arg and (path == TESTS_DIR or path in TESTS_DIR.parents):
            return True
    return False


class AslCoveragePlugin:
    """Records in every process; aggregates, prints and (strict) fails in the controller."""

    def __init__(self, config: pytest.Config) -> None:
        from local.runtime import observe_executions

        self.config = config
        self.files = asl_files()
        worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.is_worker = worker_input is not None
        if worker_input is not None:
            self.directory = Path(worker_input[WORKER_INPUT_KEY])
        else:
            self.directory = Path(tempfile.mkdtemp(prefix="stepwise-asl-coverage-"))
        self.sink = self.directory / f"{os.getpid()}.jsonl"
        self.strict = os.environ.get(MODE_ENV, "").lower() == STRICT
        self.flows: dict[str, FlowCoverage] | None = None
        self._stop_observing: Callable[[], None] = observe_executions(self.observe)

    def observe(self, workflow: str, events: list[dict[str, Any]]) -> None:
        with self.sink.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record(workflow, events, self.files)) + "\n")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_INPUT_KEY] = str(self.directory)

    def _should_report(self) -> bool:
        option = self.config.option
        whole = whole_suite(
            [str(a) for a in self.config.args],
            getattr(option, "keyword", ""),
            getattr(option, "markexpr", ""),
        )
        return self.strict or whole

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or not self._should_report():
            return
        self.flows = aggregate(read_lines(self.directory), self.files)
        complete = all(flow.complete for flow in self.flows.values())
        if self.strict and not complete and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.flows is None:
            return
        complete = all(flow.complete for flow in self.flows.values())
        verdict = "complete" if complete else "INCOMPLETE" + (" (gate: failing)" if self.strict else "")
        terminalreporter.write_sep("=", f"ASL path coverage: {verdict}")
        for line in render(self.flows):
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop_observing()
        if not self.is_worker:
            shutil.rmtree(self.directory, ignore_errors=True)


def register(config: pytest.Config) -> None:
    config.pluginmanager.register(AslCoveragePlugin(config), "stepwise-asl-coverage")
