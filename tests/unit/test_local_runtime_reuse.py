"""What the local runtime keeps from one run (and one runtime) to the next, and what it must not.

The harness reuses a definition's parsed program, moto's interpreter clients, boto3 clients and
botocore's service models across runtimes, for speed (docs/performance.md). These scenarios
check the reuse is real and that nothing of one runtime's behaviour leaks into the next.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bench.happy_paths import approve, drive, example_input
from functions.shared.aws import client
from local import patches
from local import runtime as runtime_module
from local.runtime import LocalRuntime


def _count_preprocessing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    preprocessor = patches.resolve(patches.PREPROCESSOR)
    built = [0]
    original = preprocessor.visit

    def counting(self: Any, tree: Any) -> Any:
        built[0] += 1
        return original(self, tree)

    monkeypatch.setattr(preprocessor, "visit", counting)
    return built


def test_a_second_run_of_a_flow_reuses_the_program_the_first_one_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a flow that has run once in this process
    with LocalRuntime() as runtime:
        drive(runtime, "sales_outreach", {**example_input("sales_outreach"), "lead_id": "L-300"}, approve)
    built = _count_preprocessing(monkeypatch)

    # When it runs again, in a new runtime, to the same end
    with LocalRuntime() as runtime:
        arn = drive(
            runtime, "sales_outreach", {**example_input("sales_outreach"), "lead_id": "L-300"}, approve
        )
        result = runtime.result(arn)

    # Then no program was built from the parse tree again, and the run is the same
    assert built[0] == 0
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert result.output["status"] == "disqualified"


def test_a_reused_program_times_out_by_the_current_runtimes_clock_not_the_one_that_built_it() -> None:
    # Given a program built and run (approved) under a runtime with the declared 3-day approval timeout
    with LocalRuntime() as first:
        arn = drive(first, "sales_outreach", example_input("sales_outreach"), approve)
        assert first.result(arn).output["status"] == "sent"  # type: ignore[index]

    # When the next runtime shortens that approval to one second and nobody answers
    with LocalRuntime() as second:
        second.time_out("RequestApproval", after_s=1.0)
        arn = second.start("sales_outreach", example_input("sales_outreach"))
        ended = second.wait(arn, timeout_s=30)
        timeline = second.result(arn).timeline

    # Then the approval timed out under the second runtime's setting: nothing was sent
    approval = next(row for row in timeline if row.state == "RequestApproval")
    assert approval.error == "States.Timeout", [(r.state, r.status, r.error) for r in timeline]
    assert "SendEmail" not in [row.state for row in timeline]
    assert ended["status"] in {"SUCCEEDED", "FAILED"}


def test_boto3_clients_and_service_models_outlive_a_runtime_but_follow_the_region() -> None:
    with LocalRuntime() as first:
        dynamodb = client("dynamodb")
        loader = boto3.Session()._session.get_component("data_loader")
    with LocalRuntime() as second:
        # the same client still reaches the active runtime's moto (the table was created anew)
        assert client("dynamodb") is dynamodb
        assert second.sfn.list_state_machines()["stateMachines"]
        assert boto3.Session()._session.get_component("data_loader") is loader
    with LocalRuntime(region="eu-west-1"):
        assert client("dynamodb") is not dynamodb
        assert client("dynamodb").meta.region_name == "eu-west-1"
    assert first is not second


def test_an_invalid_definition_is_refused_at_every_execution_attempt() -> None:
    # A parse failure is never remembered: only trees of accepted definitions are reused.
    parse = patches.resolve(patches.ASL_PARSER).parse
    with LocalRuntime(seed_dir=None):
        for _ in range(2):
            with pytest.raises(Exception, match="ASLParserException"):
                patches.resolve(patches.ASL_PARSER).parse(
                    '{"StartAt": "X", "States": {"X": {"Type": "Bogus"}}}'
                )
    assert patches.resolve(patches.ASL_PARSER).parse is parse


def test_a_script_answering_approvals_reads_the_runs_status_once_when_the_run_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a run that stops for one approval (its callback state starts and stops waiting), and
    # no periodic re-read within the test (a missed announcement would show as a 30 s wait and a
    # second read)
    monkeypatch.setattr(runtime_module, "_RECHECK_S", 30.0)
    with LocalRuntime() as runtime:
        described: list[str] = []
        runtime.sfn.meta.events.register(
            "before-call.sfn.DescribeExecution", lambda **_: described.append("read")
        )
        # When a script answers the approval as soon as it can and waits for the end
        arn = drive(runtime, "sales_outreach", example_input("sales_outreach"), approve)
        reads = len(described)
        # Then the run succeeded, and its status was read once, when the interpreter announced the
        # end: not when each wait for an approval started, nor on each callback change
        assert runtime.result(arn).output["status"] == "sent"  # type: ignore[index]
        assert reads == 1


def test_a_script_answering_an_approval_finds_it_with_one_read_of_the_approvals_table() -> None:
    # Given a sales outreach run that stops for the email's approval
    with LocalRuntime() as runtime:
        scans: list[str] = []
        client("dynamodb").meta.events.register("before-call.dynamodb.Scan", lambda **_: scans.append("scan"))
        arn = runtime.start("sales_outreach", example_input("sales_outreach"))
        # When a script asks for what it can decide
        pending = runtime.approvals_to_decide(arn, timeout_s=60)
        # Then it gets the approval after one read (waiting, then listing, read the table twice)
        assert [record.state for record in pending] == ["RequestApproval"]
        assert scans == ["scan"]
        # And once the approval is decided and the run has ended, there is nothing left to decide
        runtime.decide(pending[0], approve(pending[0]))
        assert runtime.approvals_to_decide(arn, timeout_s=60) == []
        assert runtime.result(arn).output["status"] == "sent"  # type: ignore[index]


def test_a_missed_end_announcement_costs_a_recheck_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a runtime whose interpreter never announces an end, re-reading the status every 50 ms
    monkeypatch.setattr(runtime_module, "_RECHECK_S", 0.05)
    with LocalRuntime() as runtime:
        monkeypatch.setattr(runtime.signals, "has_ended", lambda _name: False)
        # When a script waits for approvals of a run that ends without any
        arn = runtime.start("sales_outreach", {**example_input("sales_outreach"), "lead_id": "L-300"})
        # Then it learns the run ended from the periodic read, and there is nothing to decide
        assert runtime.approvals_to_decide(arn, timeout_s=30) == []
        assert runtime.result(arn).output["status"] == "disqualified"  # type: ignore[index]
