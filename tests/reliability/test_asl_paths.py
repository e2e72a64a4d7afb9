"""The path-coverage gate's pure logic: what an ASL file declares and what a history shows it took."""

from __future__ import annotations

from typing import Any

import pytest

from tests import asl_coverage
from tests.asl_paths import Edge, describe, flow_graph, path_taken

ASL: dict[str, Any] = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "${CheckFunctionArn}",
            "Retry": [{"ErrorEquals": ["TransientIntegrationError"], "MaxAttempts": 2}],
            "Catch": [
                {"ErrorEquals": ["BusinessRuleError"], "Next": "Blocked"},
                {"ErrorEquals": ["States.ALL"], "Next": "Failed"},
            ],
            "Next": "Route",
        },
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.a", "BooleanEquals": True, "Next": "Each"},
                {"Variable": "$.b", "BooleanEquals": True, "Next": "Blocked"},
                {"Variable": "$.c", "BooleanEquals": True, "Next": "Each"},
            ],
            "Default": "Blocked",
        },
        "Each": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Send",
                "States": {
                    "Send": {"Type": "Task", "Resource": "x", "Next": "Log"},
                    "Log": {"Type": "Task", "Resource": "x", "End": True},
                },
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            "End": True,
        },
        "Blocked": {"Type": "Pass", "End": True},
        "Failed": {"Type": "Fail"},
    },
}


class History:
    """Builds a moto-shaped event list (ids in order; only the fields the logic reads)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, **details: Any) -> History:
        event: dict[str, Any] = {"id": len(self.events) + 1, "type": kind}
        if details:
            key = kind[0].lower() + kind[1:] + "EventDetails"
            for suffix in ("StateEntered", "StateExited"):
                if kind.endswith(suffix):  # every state type shares one details field
                    key = suffix[0].lower() + suffix[1:] + "EventDetails"
            event[key] = details
        self.events.append(event)
        return self

    def state(self, kind: str, name: str, *between: tuple[str, dict[str, Any]]) -> History:
        self.add(f"{kind}StateEntered", name=name)
        for event_kind, details in between:
            self.add(event_kind, **details)
        return self.add(f"{kind}StateExited", name=name)


OK: tuple[tuple[str, dict[str, Any]], ...] = (
    ("LambdaFunctionScheduled", {}),
    ("LambdaFunctionSucceeded", {}),
)


def failed(error: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    return ("LambdaFunctionScheduled", {}), ("LambdaFunctionFailed", {"error": error, "cause": "x"})


def test_the_graph_has_every_state_including_map_iterators_and_every_declared_edge() -> None:
    graph = flow_graph(ASL)

    assert graph.states == {"Check", "Route", "Each", "Send", "Log", "Blocked", "Failed"}
    assert graph.scopes["Send"] == "Each#0"
    assert graph.edges == {
        Edge("Check", "Route", "next"),
        Edge("Check", "Blocked", "catch[0]"),
        Edge("Check", "Failed", "catch[1]"),
        # rules 0 and 2 share a target: the history cannot tell them apart, so they are one edge
        Edge("Route", "Each", "choice[0]|choice[2]"),
        Edge("Route", "Blocked", "choice[1]|default"),
        Edge("Each", "Failed", "catch[0]"),
        Edge("Send", "Log", "next"),
    }
    assert graph.retries == {Edge("Check", "Check", "retry[0]")}
    assert describe(graph, Edge("Check", "Blocked", "catch[0]")) == (
        "Check -catch[0] BusinessRuleError-> Blocked"
    )


def test_a_duplicate_state_name_is_refused() -> None:
    inner = {"StartAt": "Check", "States": {"Check": {"Type": "Pass", "End": True}}}
    definition: dict[str, Any] = {
        "StartAt": "Check",
        "States": {**ASL["States"], "Each": {**ASL["States"]["Each"]}},
    }
    definition["States"]["Each"]["ItemProcessor"] = inner

    with pytest.raises(ValueError, match="'Check' is used twice"):
        flow_graph(definition)


def test_a_retried_then_successful_run_through_a_map_takes_next_retry_choice_and_inner_edges() -> None:
    # Given a history: Check fails once (transient), is retried, succeeds; Route → Map with two iterations
    history = (
        History()
        .state("Task", "Check", *failed("TransientIntegrationError"), *OK)
        .state("Choice", "Route")
        .add("MapStateEntered", name="Each")
        .add("MapStateStarted")
    )
    for _ in range(2):
        history.add("MapIterationStarted", name="Each")
        history.state("Task", "Send", *OK).state("Task", "Log", *OK)
        history.add("MapIterationSucceeded", name="Each")
    history.add("MapStateSucceeded").add("MapStateExited", name="Each").add("ExecutionSucceeded")

    # When the path is read
    taken = path_taken(flow_graph(ASL), history.events)

    # Then every move is a declared edge; the iteration restart is not an edge (Log is an End state)
    assert taken.unexplained == []
    assert taken.states == {"Check", "Route", "Each", "Send", "Log"}
    assert taken.edges == {
        Edge("Check", "Check", "retry[0]"),
        Edge("Check", "Route", "next"),
        Edge("Route", "Each", "choice[0]|choice[2]"),
        Edge("Send", "Log", "next"),
    }


def test_iterations_of_a_map_running_at_once_are_read_one_at_a_time() -> None:
    # Given a Map with MaxConcurrency 2: the second iteration starts before the first ends (each
    # event names the one before it in its own iteration, as Step Functions' previousEventId does)
    history = (
        History()
        .state("Task", "Check", *OK)  # 1-5
        .state("Choice", "Route")  # 6-7
        .add("MapStateEntered", name="Each")  # 8
        .add("MapStateStarted")  # 9
        .add("MapIterationStarted", name="Each")  # 10: iteration 0
        .add("MapIterationStarted", name="Each")  # 11: iteration 1
        .add("TaskStateEntered", name="Send")  # 12 (0)
        .add("TaskStateEntered", name="Send")  # 13 (1)
        .add("TaskStateExited", name="Send")  # 14 (1)
        .add("TaskStateEntered", name="Log")  # 15 (1)
        .add("TaskStateExited", name="Send")  # 16 (0)
        .add("TaskStateEntered", name="Log")  # 17 (0)
        .add("TaskStateExited", name="Log")  # 18 (1)
        .add("MapIterationSucceeded", name="Each")  # 19 (1)
        .add("TaskStateExited", name="Log")  # 20 (0)
        .add("MapIterationSucceeded", name="Each")  # 21 (0)
        .add("MapStateSucceeded")  # 22
        .add("MapStateExited", name="Each")  # 23
        .add("ExecutionSucceeded")  # 24
    )
    previous = {11: 9, 12: 10, 13: 11, 14: 13, 15: 14, 16: 12, 17: 16, 18: 15, 19: 18, 20: 17, 21: 20, 22: 21}
    for event in history.events:
        event["previousEventId"] = previous.get(event["id"], event["id"] - 1)

    # When the path is read
    taken = path_taken(flow_graph(ASL), history.events)

    # Then no move between the iterations is reported ("Send -> Send"), and each took Send -> Log
    assert taken.unexplained == []
    assert Edge("Send", "Log", "next") in taken.edges
    assert taken.states == {"Check", "Route", "Each", "Send", "Log"}


@pytest.mark.parametrize(
    ("error", "target", "label"),
    [("BusinessRuleError", "Blocked", "catch[0]"), ("PermanentIntegrationError", "Failed", "catch[1]")],
)
def test_a_caught_failure_takes_the_first_catcher_matching_its_error(
    error: str, target: str, label: str
) -> None:
    kind = "Pass" if target == "Blocked" else "Fail"
    history = History().state("Task", "Check", *failed(error)).add(f"{kind}StateEntered", name=target)

    taken = path_taken(flow_graph(ASL), history.events)

    assert taken.edges == {Edge("Check", target, label)}
    assert taken.unexplained == []


def test_a_caught_failure_without_an_exit_event_still_counts_as_the_catch() -> None:
    # Given a Map whose iteration failed: moto closes neither the inner state nor (here) the Map
    history = (
        History()
        .add("MapStateEntered", name="Each")
        .add("MapIterationStarted", name="Each")
        .add("TaskStateEntered", name="Send")
        .add("LambdaFunctionScheduled")
        .add("LambdaFunctionFailed", error="PermanentIntegrationError", cause="x")
        .add("MapIterationFailed", name="Each")
        .add("MapStateFailed")
        .add("FailStateEntered", name="Failed")
    )

    taken = path_taken(flow_graph(ASL), history.events)

    assert taken.edges == {Edge("Each", "Failed", "catch[0]")}
    assert taken.unexplained == []


def test_moves_the_asl_does_not_declare_are_reported_not_dropped() -> None:
    history = (
        History()
        .state("Task", "Check", *OK)
        .add("PassStateEntered", name="Blocked")  # Check's Next is Route
        .add("PassStateEntered", name="Nowhere")
    )
    history.events.insert(0, {"id": 0, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "X"}})

    taken = path_taken(flow_graph(ASL), history.events)

    assert taken.edges == set()
    assert taken.unexplained == [
        "entered X, which the ASL does not declare",
        "Check -> Blocked is no edge of the ASL",
        "entered Nowhere, which the ASL does not declare",
    ]


def test_a_redriven_run_re_enters_its_failed_state_without_an_edge_from_the_failed_attempt() -> None:
    # Given a run whose Map failed uncaught (an error no Catch names), then was redriven
    history = (
        History()
        .state("Task", "Check", *OK)
        .state("Choice", "Route")
        .add("MapStateEntered", name="Each")
        .add("MapIterationStarted", name="Each")
        .add("TaskStateEntered", name="Send")
        .add("LambdaFunctionScheduled")
        .add("LambdaFunctionFailed", error="States.Runtime", cause="x")
        .add("ExecutionFailed")
        .add("ExecutionRedriven", redriveCount=1)
        .add("MapStateEntered", name="Each")
        .add("MapIterationStarted", name="Each")
        .state("Task", "Send", *OK)
        .state("Task", "Log", *OK)
        .add("MapIterationSucceeded", name="Each")
        .add("MapStateExited", name="Each")
    )

    taken = path_taken(flow_graph(ASL), history.events)

    # Then the redrive explains itself: no "Each -> Each" move, and the redriven path is covered
    assert taken.unexplained == []
    assert Edge("Send", "Log", "next") in taken.edges


def test_a_retry_of_an_error_no_retrier_matches_is_reported() -> None:
    history = History().state("Task", "Check", *failed("BusinessRuleError"), *OK)

    taken = path_taken(flow_graph(ASL), history.events)

    assert taken.unexplained == ["Check ran again after BusinessRuleError without a Retry for it"]


def test_coverage_aggregates_runs_and_names_what_is_missing(tmp_path: Any) -> None:
    # Given one ASL file and two recorded runs that together miss one state and some edges
    import json

    (tmp_path / "demo.asl.json").write_text(json.dumps(ASL))
    files = asl_coverage.asl_files(tmp_path)
    first = (
        History().state("Task", "Check", *failed("BusinessRuleError")).add("PassStateEntered", name="Blocked")
    )
    second = (
        History().state("Task", "Check", *OK).state("Choice", "Route").add("PassStateEntered", name="Blocked")
    )
    lines = [asl_coverage.record("demo", h.events, files) for h in (first, second)]

    # When they are aggregated and rendered
    flows = asl_coverage.aggregate(json.loads(json.dumps(lines)), files)
    table = asl_coverage.render(flows)

    # Then the row counts covered/total and every gap is listed by name
    assert not flows["demo"].complete
    assert table[1].split() == ["demo", "2", "3/7", "3/7", "0/1"]
    assert "demo: state never entered: Send" in table
    assert "demo: edge never taken: Check -catch[1] States.ALL-> Failed" in table
    assert "demo: edge never taken: Route -choice[0]|choice[2]-> Each" in table


@pytest.mark.parametrize(
    ("args", "keyword", "whole"),
    [
        (["tests"], "", True),
        (["."], "", True),
        (["tests/workflows"], "", False),
        (["tests/unit/test_cli.py"], "", False),
        (["tests"], "sales", False),
    ],
)
def test_the_table_is_printed_only_when_the_whole_suite_ran(
    args: list[str], keyword: str, whole: bool
) -> None:
    resolved = [str(asl_coverage.TESTS_DIR.parent / a) for a in args]
    assert asl_coverage.whole_suite(resolved, keyword, "") is whole


def test_the_gate_reads_every_asl_file_in_statemachines() -> None:
    from functions.registry import STATEMACHINES_DIR

    assert set(asl_coverage.asl_files()) == {
        p.name.removesuffix(".asl.json") for p in STATEMACHINES_DIR.glob("*.asl.json")
    }
    for path in asl_coverage.asl_files().values():
        graph = asl_coverage.graph_of(path)
        assert graph.states
        assert graph.edges


def test_every_edge_excused_from_the_gate_exists_and_says_why() -> None:
    files = asl_coverage.asl_files()
    for (flow, edge), why in asl_coverage.NOT_DRIVABLE.items():
        assert edge in asl_coverage.graph_of(files[flow]).edges, (flow, edge)
        assert len(why) > 40, "a reason a reviewer can check"
