"""The paths of an ASL file: every state and edge it declares, and the ones one execution took.

Pure functions (no moto, no pytest) so the coverage gate (``tests/asl_coverage.py``) and its unit
tests share them. An edge is (source, target, label):

- ``next``: a state's ``Next``; ``default``: a Choice's ``Default``; ``choice[i]``: Choice rule i;
- ``catch[i]``: a failed state's ``Catch`` i (``ErrorEquals`` shown in :func:`describe`);
- ``retry[i]``: a failed attempt retried by ``Retry`` i (a self-edge, reported but not required:
  ``tests/unit/test_asl_contract.py`` lints every retrier, and exercising each (task, error) pair
  would take hundreds of runs).

A Choice whose rules share a target cannot tell them apart from the history (which records the
states, not the matched rule): those exits become one edge labelled ``choice[0]|choice[2]``.

What one execution took comes from its history: ``*StateEntered``/``*StateExited`` give the
sequence of states per scope (the top level, or one Map/Parallel branch; a Map iteration's end
closes its scope), failure events before the exit make it a Catch, and a new scheduling after a
failure is a Retry. Anything the history shows that the ASL does not declare is returned as an
``unexplained`` line instead of being dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.shared.timeline import TASK_FAILURE_EVENTS

#: Failure events and the key of their details: a Task's (as the timeline reads them), a Map's, a Parallel's.
FAILURE_EVENTS = {
    **TASK_FAILURE_EVENTS,
    "MapStateFailed": "mapStateFailedEventDetails",
    "ParallelStateFailed": "parallelStateFailedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
}
SCHEDULED_EVENTS = {"LambdaFunctionScheduled", "TaskScheduled"}
SUCCEEDED_EVENTS = {"LambdaFunctionSucceeded", "TaskSucceeded", "MapStateSucceeded", "ParallelStateSucceeded"}
ITERATION_END_EVENTS = {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}
UNKNOWN_ERROR = "?"


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    label: str

    @property
    def is_retry(self) -> bool:
        return self.label.startswith("retry[")

    def __str__(self) -> str:
        return f"{self.source} -{self.label}-> {self.target}"


@dataclass(frozen=True)
class FlowGraph:
    """Everything an ASL definition can do: its states, required edges and retry rules."""

    states: frozenset[str]
    edges: frozenset[Edge]
    retries: frozenset[Edge]
    #: state name → the scope it runs in ("" top level, else "<Map or Parallel state>#<branch>")
    scopes: Mapping[str, str]
    definitions: Mapping[str, Mapping[str, Any]]


@dataclass
class PathTaken:
    """What one execution did: the states it entered and the edges it took."""

    states: set[str] = field(default_factory=set)
    edges: set[Edge] = field(default_factory=set)
    unexplained: list[str] = field(default_factory=list)


def iter_scoped_states(
    states: Mapping[str, Any], scope: str = ""
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(scope, name, state) for every state, inside Parallel branches and Map iterators too."""
    for name, state in states.items():
        yield scope, name, state
        for index, branch in enumerate(state.get("Branches", [])):
            yield from iter_scoped_states(branch["States"], f"{name}#{index}")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from iter_scoped_states(processor["States"], f"{name}#0")


def flow_graph(definition: Mapping[str, Any]) -> FlowGraph:
    """The states and edges an ASL definition declares (state names are unique per machine)."""
    scopes: dict[str, str] = {}
    definitions: dict[str, Mapping[str, Any]] = {}
    edges: set[Edge] = set()
    retries: set[Edge] = set()
    for scope, name, state in iter_scoped_states(definition["States"]):
        if name in scopes:
            raise ValueError(f"state name {name!r} is used twice")
        scopes[name], definitions[name] = scope, state
        if "Next" in state:
            edges.add(Edge(name, state["Next"], "next"))
        if state["Type"] == "Choice":
            edges |= _choice_edges(name, state)
        for index, catcher in enumerate(state.get("Catch", [])):
            edges.add(Edge(name, catcher["Next"], f"catch[{index}]"))
        for index, _ in enumerate(state.get("Retry", [])):
            retries.add(Edge(name, name, f"retry[{index}]"))
    return FlowGraph(frozenset(scopes), frozenset(edges), frozenset(retries), scopes, definitions)


def _choice_edges(name: str, state: Mapping[str, Any]) -> set[Edge]:
    by_target: dict[str, list[str]] = defaultdict(list)
    for index, rule in enumerate(state["Choices"]):
        by_target[rule["Next"]].append(f"choice[{index}]")
    if "Default" in state:
        by_target[state["Default"]].append("default")
    return {Edge(name, target, "|".join(labels)) for target, labels in by_target.items()}


def describe(graph: FlowGraph, edge: Edge) -> str:
    """An edge as a reader wants it: catch and retry edges show the errors they match."""
    rules = {"catch": "Catch", "retry": "Retry"}
    kind = edge.label.split("[", 1)[0]
    if kind in rules:
        index = int(edge.label.split("[", 1)[1].rstrip("]"))
        errors = ",".join(graph.definitions[edge.source][rules[kind]][index]["ErrorEquals"])
        return f"{edge.source} -{edge.label} {errors}-> {edge.target}"
    return str(edge)


def matches(error: str, error_equals: list[str]) -> bool:
    """Step Functions' matching: the name, ``States.ALL``, or ``States.TaskFailed`` for task errors."""
    if error in error_equals or "States.ALL" in error_equals:
        return True
    return "States.TaskFailed" in error_equals and error != "States.Timeout"


def classify(graph: FlowGraph, source: str, target: str, error: str | None) -> Edge | None:
    """The declared edge that leads from ``source`` to ``target`` (after ``error``, if it failed)."""
    state = graph.definitions[source]
    if error is not None:
        catchers = state.get("Catch", [])
        if error == UNKNOWN_ERROR:
            indexes = [i for i, c in enumerate(catchers) if c["Next"] == target]
            index = indexes[0] if len(indexes) == 1 else None
        else:
            index = next((i for i, c in enumerate(catchers) if matches(error, c["ErrorEquals"])), None)
        if index is None or catchers[index]["Next"] != target:
            return None
        return Edge(source, target, f"catch[{index}]")
    candidates = [e for e in graph.edges if e.source == source and e.target == target]
    if state["Type"] == "Choice":
        return candidates[0] if len(candidates) == 1 else None
    return Edge(source, target, "next") if state.get("Next") == target else None


def retry_edge(graph: FlowGraph, state: str, error: str) -> Edge | None:
    for index, retrier in enumerate(graph.definitions[state].get("Retry", [])):
        if matches(error, retrier["ErrorEquals"]):
            return Edge(state, state, f"retry[{index}]")
    return None


def _failure_error(event: Mapping[str, Any]) -> str:
    details = event.get(FAILURE_EVENTS[event["type"]]) or {}
    return str(details.get("error") or UNKNOWN_ERROR)


def path_taken(graph: FlowGraph, events: Sequence[Mapping[str, Any]]) -> PathTaken:
    """The states entered and edges taken by one execution, from its history events."""
    walk = _Walk(graph)
    for event in _one_iteration_at_a_time(events):
        walk.see(event)
    return walk.taken


_ITERATION_START = "MapIterationStarted"
_ITERATION_ENDS = {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}


def _one_iteration_at_a_time(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The events in id order, except that the iterations of a Map running several at once
    (``MaxConcurrency`` > 1) are regrouped so each iteration's events are contiguous, as if they
    had run one after the other: each event belongs to the iteration its ``previousEventId``
    belongs to, and the event after an iteration's end returns to the enclosing one."""
    ordered = sorted(events, key=lambda e: e["id"])
    by_id = {e["id"]: e for e in ordered}
    key: dict[int, tuple[int, ...]] = {}  # event id → its sort key (iteration starts, then its id)
    thread: dict[int, tuple[int, ...]] = {}  # event id → the iteration path it runs in
    for event in ordered:
        previous = by_id.get(event.get("previousEventId", -1))
        parent = thread[previous["id"]] if previous is not None else ()
        if previous is not None and previous["type"] in _ITERATION_ENDS:
            parent = parent[:-1]  # the iteration ended: back in the enclosing scope
        thread[event["id"]] = (*parent, event["id"]) if event["type"] == _ITERATION_START else parent
        key[event["id"]] = (*thread[event["id"]], event["id"])
    return sorted(ordered, key=lambda e: key[e["id"]])


@dataclass
class _Walk:
    graph: FlowGraph
    taken: PathTaken = field(default_factory=PathTaken)
    exited: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # scope → (state, error)
    open_states: list[str] = field(default_factory=list)  # entered, not exited; the last owns task events
    failed: dict[str, str | None] = field(default_factory=dict)  # open state → its last failure

    def see(self, event: Mapping[str, Any]) -> None:
        kind = str(event["type"])
        if kind == "ExecutionRedriven":
            # A redrive re-enters the state the run failed in: no ASL edge leads from the failed
            # attempt to it, so the walk starts afresh (the failed attempt's states stay covered).
            self.open_states.clear()
            self.exited.clear()
            self.failed.clear()
        elif kind.endswith("StateEntered"):
            self._enter(event["stateEnteredEventDetails"]["name"])
        elif kind.endswith("StateExited"):
            self._exit(event["stateExitedEventDetails"]["name"])
        elif kind in ITERATION_END_EVENTS:
            # The iteration ended (in an End state, or failing): nothing follows inside its scope.
            scope = f"{(event.get(_iteration_details(kind)) or {}).get('name', '')}#0"
            self.exited.pop(scope, None)
            for name in [n for n in self.open_states if self.graph.scopes[n] == scope]:
                self._exit(name)
                self.exited.pop(scope, None)
        elif kind == "MapRunSucceeded":
            owner = self._owner(container=True)
            if owner is not None:
                self.taken.states |= distributed_children(self.graph, owner)
        elif kind in FAILURE_EVENTS:
            owner = self._owner(container=kind in {"MapStateFailed", "ParallelStateFailed", "MapRunFailed"})
            if owner is not None:
                self.failed[owner] = _failure_error(event)
        elif kind in SCHEDULED_EVENTS | SUCCEEDED_EVENTS:
            owner = self._owner(container=kind in {"MapStateSucceeded", "ParallelStateSucceeded"})
            error = self.failed.get(owner) if owner is not None else None
            if owner is not None and error is not None:
                self.failed[owner] = None
                if kind in SCHEDULED_EVENTS:
                    self._retry(owner, error)

    def _owner(self, *, container: bool) -> str | None:
        for name in reversed(self.open_states):
            if not container or self.graph.definitions[name]["Type"] in {"Map", "Parallel"}:
                return name
        return None

    def _enter(self, name: str) -> None:
        if name not in self.graph.scopes:
            self.taken.unexplained.append(f"entered {name}, which the ASL does not declare")
            return
        self.taken.states.add(name)
        scope = self.graph.scopes[name]
        # A state of this scope that failed without an exit event (caught) ends now.
        for other in [n for n in self.open_states if self.graph.scopes[n] == scope]:
            self._exit(other)
        if scope in self.exited:
            source, error = self.exited.pop(scope)
            edge = classify(self.graph, source, name, error)
            if edge is None:
                how = f" after {error}" if error else ""
                self.taken.unexplained.append(f"{source} -> {name}{how} is no edge of the ASL")
            else:
                self.taken.edges.add(edge)
        self.open_states.append(name)
        self.failed[name] = None

    def _exit(self, name: str) -> None:
        if name not in self.open_states:
            return
        position = self.open_states.index(name)
        for nested in self.open_states[position + 1 :]:  # inner states left open by a failure
            self.failed.pop(nested, None)
        del self.open_states[position:]
        self.exited[self.graph.scopes[name]] = (name, self.failed.pop(name, None))

    def _retry(self, state: str, error: str) -> None:
        retry = retry_edge(self.graph, state, error)
        if retry is None:
            self.taken.unexplained.append(f"{state} ran again after {error} without a Retry for it")
        else:
            self.taken.edges.add(retry)


def distributed_children(graph: FlowGraph, name: str) -> set[str]:
    """The one state of a Distributed Map's child flow, which a ``MapRunSucceeded`` proves ran.

    A Distributed Map's children are executions of their own: their events are never in the
    parent's history (on AWS, and in moto, which keeps them out too). A child flow of exactly one
    state has no edge to observe, and its Map run succeeding means that state ran for every item;
    a child flow with more states gets no such credit (its paths would need the children's
    histories), so the gate keeps reporting them as not covered.
    """
    processor = graph.definitions[name].get("ItemProcessor") or {}
    if processor.get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
        return set()
    inner = {n for n, scope in graph.scopes.items() if scope == f"{name}#0"}
    return inner if len(inner) == 1 else set()


def _iteration_details(kind: str) -> str:
    return kind[0].lower() + kind[1:] + "EventDetails"
