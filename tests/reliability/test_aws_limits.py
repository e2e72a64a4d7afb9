"""The local runtime enforces AWS's limits (``local/limits.py``): what AWS would do, tests see.

Tiny test-only flows (``limit_flows.py``) run through the same runtime as the real workflows;
the no_show scenario at the end runs the real one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import cli, limits
from local.runtime import LocalRuntime
from tests.reliability import limit_flows
from tests.reliability.limit_flows import flow, task

CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
CAUGHT = {"Type": "Pass", "End": True}


def _map(step: str, *, max_concurrency: int, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrency": max_concurrency,
        "ItemSelector": {"i.$": "$$.Map.Item.Value.i", "fail_at.$": "$.fail_at"},
        "ItemProcessor": {"StartAt": "Item", "States": {"Item": task(step, End=True)}},
        "ResultPath": None,
        **fields,
    }


FLOWS: dict[str, dict[str, Any]] = {
    "sized_result": {
        "StartAt": "Produce",
        "States": {"Produce": task("sized", Catch=CATCH_ALL, End=True), "Caught": CAUGHT},
    },
    "sized_result_named_catch": {
        "StartAt": "Produce",
        "States": {
            "Produce": task(
                "sized",
                Catch=[{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}],
                End=True,
            ),
            "Caught": CAUGHT,
        },
    },
    "sized_in_map": {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Produce", "States": {"Produce": task("sized", End=True)}},
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    },
    "timed": {
        "StartAt": "Work",
        "States": {"Work": task("quick", Catch=CATCH_ALL, End=True), "Caught": CAUGHT},
    },
    "remaining": {"StartAt": "Budget", "States": {"Budget": task("remaining", End=True)}},
    "deadline": {"StartAt": "Loop", "States": {"Loop": task("deadline_loop", End=True)}},
    "serial_map": {"StartAt": "Each", "States": {"Each": _map("fail_at", max_concurrency=1, End=True)}},
    "pass_map": {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}},
                "ResultPath": None,
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    },
    "distributed_map": {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P0",
                    "States": {
                        f"P{n}": {"Type": "Pass", **({"Next": f"P{n + 1}"} if n < 19 else {"End": True})}
                        for n in range(20)
                    },
                },
                "ResultPath": None,
                "End": True,
            }
        },
    },
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    directory = tmp_path_factory.mktemp("limit-flows")
    workflows = [flow(directory, name, definition) for name, definition in FLOWS.items()]
    with LocalRuntime(workflows=list(workflows), seed_dir=None) as runtime:
        yield runtime


def run(
    runtime: LocalRuntime, flow_name: str, payload: dict[str, Any], timeout_s: float = 60.0
) -> dict[str, Any]:
    arn: str = runtime.sfn.start_execution(
        stateMachineArn=runtime.state_machines[flow_name],
        name=f"{flow_name.replace('_', '-')}-{len(runtime.dispatcher.invocations)}-{id(payload)}",
        input=json.dumps(payload),
    )["executionArn"]
    described: dict[str, Any] = runtime.wait(arn, timeout_s=timeout_s)
    described["events"] = runtime.history(arn)
    return described


def cli_line(runtime: LocalRuntime, run_: dict[str, Any]) -> str:
    """The last line ``python -m local run`` prints for this run."""
    out = io.StringIO()
    assert cli.report(runtime.result(run_["executionArn"]), out, timeline=False) == cli.EXIT_FAILED
    return out.getvalue().strip().splitlines()[-1]


def failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["lambdaFunctionFailedEventDetails"] for e in events if e["type"] == "LambdaFunctionFailed"]


# --- 256 KiB -------------------------------------------------------------------------------------


def test_a_result_of_exactly_256_kib_passes(tiny: LocalRuntime) -> None:
    # Given a step whose result is 262,144 bytes of JSON, the limit itself
    run_ = run(tiny, "sized_result", {"bytes": limits.PAYLOAD_LIMIT_BYTES})

    # Then the run succeeds through the step, not through the catch-all
    assert run_["status"] == "SUCCEEDED"
    assert limits.payload_bytes(json.loads(run_["output"])) == limits.PAYLOAD_LIMIT_BYTES


def test_one_byte_more_fails_the_run_even_with_a_catch_all(tiny: LocalRuntime) -> None:
    # Given a step whose result is 262,145 bytes, and a Catch on States.ALL
    run_ = run(tiny, "sized_result", {"bytes": limits.PAYLOAD_LIMIT_BYTES + 1})

    # Then the run fails with AWS's error, which States.ALL does not catch
    assert run_["status"] == "FAILED"
    assert run_["error"] == "States.DataLimitExceeded"
    assert "returned a result with a size exceeding the maximum number of bytes" in run_["cause"]
    assert [f["error"] for f in failures(run_["events"])] == ["States.DataLimitExceeded"]
    assert not [e for e in run_["events"] if e["type"] == "PassStateEntered"]
    assert cli_line(tiny, run_).startswith("run failed (Produce): States.DataLimitExceeded: The state/task")


def test_naming_data_limit_exceeded_in_a_catch_catches_it(tiny: LocalRuntime) -> None:
    run_ = run(tiny, "sized_result_named_catch", {"bytes": limits.PAYLOAD_LIMIT_BYTES + 1})

    assert run_["status"] == "SUCCEEDED"
    assert json.loads(run_["output"])["Error"] == "States.DataLimitExceeded"


def test_an_oversized_result_inside_a_map_fails_with_its_own_name_not_states_runtime(
    tiny: LocalRuntime,
) -> None:
    # Given a Map whose iteration returns 300 KB, and a catch-all on the Map
    run_ = run(tiny, "sized_in_map", {"items": [{"bytes": 300_000}]})

    # Then the error leaves the Map as what it is, and the catch-all does not catch it
    assert run_["status"] == "FAILED"
    assert run_["error"] == "States.DataLimitExceeded"
    assert "Custom Error Names" not in run_["cause"]


# --- function timeout (simulated time) -----------------------------------------------------------


def test_a_step_slower_than_its_timeout_fails_with_sandbox_timedout(tiny: LocalRuntime) -> None:
    # Given a 30 s step that takes 31 s (simulated: the test does not wait)
    tiny.simulate_latency(step="quick", seconds=31)
    try:
        run_ = run(tiny, "timed", {})
    finally:
        tiny.simulate_latency(step="quick", seconds=0)

    # Then Lambda's timeout error reaches the ASL (and a catch-all catches it, as on AWS)
    assert run_["status"] == "SUCCEEDED"
    (failure,) = failures(run_["events"])
    assert failure["error"] == "Sandbox.Timedout"
    cause = json.loads(failure["cause"])
    assert cause["errorType"] == "Sandbox.Timedout"
    assert cause["errorMessage"].startswith("RequestId: ")
    assert cause["errorMessage"].endswith("Error: Task timed out after 30.00 seconds")


def test_a_step_within_its_timeout_is_not_failed(tiny: LocalRuntime) -> None:
    tiny.simulate_latency(step="quick", seconds=29)
    try:
        run_ = run(tiny, "timed", {})
    finally:
        tiny.simulate_latency(step="quick", seconds=0)

    assert run_["status"] == "SUCCEEDED"
    assert failures(run_["events"]) == []
    assert json.loads(run_["output"]) == {"ok": True}


def test_remaining_time_counts_the_simulated_latency(tiny: LocalRuntime) -> None:
    # Given a 30 s step that spent 12 s (simulated) before it read its remaining time
    run_ = run(tiny, "remaining", {})

    remaining_ms = json.loads(run_["output"])["remaining_ms"]
    assert 15_000 < remaining_ms <= 18_000


def test_the_handler_stops_where_the_deadline_passed(tiny: LocalRuntime) -> None:
    # Given ten 7 s units of work in a 30 s function
    run_ = run(tiny, "deadline", {})

    # Then the fifth unit crossed the deadline: four finished, nothing after it ran
    assert run_["status"] == "FAILED"
    assert run_["error"] == "Sandbox.Timedout"
    assert limit_flows.COMPLETED == [0, 1, 2, 3]


# --- moto's Map recursion, and 25,000 history events ---------------------------------------------


def test_a_3000_item_serial_map_completes(tiny: LocalRuntime) -> None:
    # Given an inline Map with MaxConcurrency 1 over 3,000 items (moto died of RecursionError at ~985)
    items = [{"i": i} for i in range(3000)]
    run_ = run(tiny, "serial_map", {"items": items, "fail_at": -1}, timeout_s=240)

    assert run_["status"] == "SUCCEEDED"
    assert sum(e["type"] == "MapIterationSucceeded" for e in run_["events"]) == 3000


def test_a_failure_late_in_a_serial_map_fails_the_run_never_leaves_it_running(tiny: LocalRuntime) -> None:
    items = [{"i": i} for i in range(1500)]
    run_ = run(tiny, "serial_map", {"items": items, "fail_at": 200}, timeout_s=240)

    assert run_["status"] == "FAILED"
    assert run_["error"] == "RuntimeError"


def test_the_25000th_event_is_the_execution_failing(tiny: LocalRuntime) -> None:
    # Given a Map whose 7,000 iterations write 4 events each (28,000 > 25,000), with a catch-all
    run_ = run(tiny, "pass_map", {"items": [{"i": i} for i in range(7000)]}, timeout_s=240)

    # Then the run fails as AWS fails it: event 25,000 is ExecutionFailed, nothing catches it
    assert run_["status"] == "FAILED"
    assert run_["error"] == "States.Runtime"
    assert run_["cause"] == "The execution reached the maximum number of history events (25000)."
    events = run_["events"]
    assert len(events) == limits.HISTORY_EVENT_LIMIT
    assert events[-1]["id"] == limits.HISTORY_EVENT_LIMIT
    assert events[-1]["type"] == "ExecutionFailed"
    assert cli_line(tiny, run_) == f"run failed (Each): States.Runtime: {limits.HISTORY_LIMIT_CAUSE}"
    assert not [
        e
        for e in events
        if e["type"] == "PassStateEntered" and e["stateEnteredEventDetails"]["name"] == "Caught"
    ]


def test_a_map_under_the_history_limit_is_not_cut(tiny: LocalRuntime) -> None:
    run_ = run(tiny, "pass_map", {"items": [{"i": i} for i in range(6000)]}, timeout_s=240)

    assert run_["status"] == "SUCCEEDED"
    assert len(run_["events"]) == 24_006  # 4 per item + 6


def test_a_distributed_maps_children_do_not_count_in_the_parents_history(tiny: LocalRuntime) -> None:
    # Given a Distributed Map whose 620 child executions write 42 events each (26,040 in all),
    # one child at a time (each worker runs its items in a row, as the inline Map's did)
    run_ = run(tiny, "distributed_map", {"items": [{"i": i} for i in range(620)]}, timeout_s=240)

    # Then the parent's history is its own few events, and the run succeeds
    assert run_["status"] == "SUCCEEDED"
    assert [e["type"] for e in run_["events"]] == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
