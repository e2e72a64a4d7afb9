"""Every workflow as CDK deploys it ends exactly as it does from the repository.

Each scenario (its happy path, and the path where a step fails permanently and the Catch chain
compensates) runs twice: on the repository runtime, and on the synthesized assembly with each
Lambda in its own process, from its own code asset, with its own environment and role under IAM
enforcement. Same status, same error, same states in the same order: a missing file in an asset,
a variable the template forgot, or a grant a role lacks shows up here as a difference.
"""

from __future__ import annotations

import json

import pytest

from functions.registry import ROOT, WORKFLOWS
from local.runtime import LocalRuntime, RunResult
from tests.reliability.scenarios import SCENARIOS, Scenario, drive

pytestmark = pytest.mark.slow

#: The happy path and the compensation path of every workflow (the reliability catalogue's).
AS_DEPLOYED = [s for workflow in WORKFLOWS for s in SCENARIOS[workflow] if s.name in ("main", "failed")]


Shape = tuple[str, str | None, list[tuple[str, str]]]


def shape(result: RunResult) -> Shape:
    output_status = result.output.get("status") if isinstance(result.output, dict) else None
    path = [(row.state, str(row.status)) for row in result.timeline]
    return result.status, result.error or (str(output_status) if output_status else None), path


@pytest.fixture(scope="module")
def from_repository() -> dict[str, Shape]:
    """Each scenario's run on the repository runtime, before the as-deployed account opens (two
    moto accounts cannot be open in one process at once)."""
    shapes = {}
    for scenario in AS_DEPLOYED:
        with LocalRuntime() as runtime:
            shapes[str(scenario)] = shape(drive(runtime, scenario))
    return shapes


@pytest.mark.parametrize("scenario", AS_DEPLOYED, ids=str)
def test_scenario_ends_the_same_as_deployed_as_from_the_repository(
    scenario: Scenario, from_repository: dict[str, Shape], deployed: LocalRuntime
) -> None:
    as_deployed = drive(deployed, scenario)

    assert shape(as_deployed) == from_repository[str(scenario)], as_deployed.cause
    if scenario.name == "main":
        assert as_deployed.status == "SUCCEEDED", as_deployed.cause
    else:
        # The injected failure was caught where the ASL says (the flows compensate and fail).
        caught = [row for row in as_deployed.timeline if row.status in ("CAUGHT", "FAILED") and row.error]
        assert caught, as_deployed.timeline
        assert {error for _, error in scenario.faults} <= {row.error for row in caught}


def test_every_workflow_has_a_happy_and_a_compensation_path_as_deployed() -> None:
    assert {(s.workflow, s.name) for s in AS_DEPLOYED} == {
        (workflow, name) for workflow in WORKFLOWS for name in ("main", "failed")
    }


def test_a_step_slower_than_its_template_timeout_times_out_as_deployed(deployed: LocalRuntime) -> None:
    # Given no_show's CollectSignals taking one second more than its template's Timeout (simulated)
    timeout_s = next(
        f.timeout_seconds
        for f in deployed.deployment.assembly.functions.values()
        if f.handler.endswith(".collect_signals.handler")
    )
    deployed.simulate_latency(step="collect_signals", seconds=timeout_s + 1)
    try:
        arn = deployed.start("no_show", json.loads((ROOT / "examples" / "no_show.json").read_text()))
        deployed.wait(arn)
        result = deployed.result(arn)
    finally:
        deployed.simulate_latency(step="collect_signals", seconds=0)

    # Then it fails as Lambda does under Step Functions, with the template's timeout in the message
    (row,) = [r for r in result.timeline if r.state == "CollectSignals"]
    assert row.error == "Sandbox.Timedout"
    assert result.status == "FAILED"
    assert f"Task timed out after {timeout_s:.2f} seconds" in (result.cause or "")
