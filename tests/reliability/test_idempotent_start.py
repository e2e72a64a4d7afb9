"""A retried ``StartExecution`` with the same ``Idempotency-Key`` creates one run, in every workflow.

Clients retry on timeouts; the API derives the execution name from the key, so Step Functions
itself answers the second start with the first run (and refuses the key with another body).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.registry import WORKFLOWS
from functions.shared.workflow_input import InputRejected, validate_input
from local.runtime import LocalRuntime
from tests.reliability.api import post_start
from tests.reliability.scenarios import main
from tests.reliability.vary import another_valid_body

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime() as local_runtime:
        yield local_runtime


def accepted_by(workflow: str) -> Callable[[dict[str, Any]], bool]:
    def accepts(body: dict[str, Any]) -> bool:
        try:
            validate_input(WORKFLOWS[workflow], body)
        except InputRejected:
            return False
        return True

    return accepts


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_the_same_key_and_body_twice_is_one_run_and_another_body_is_a_conflict(
    runtime: LocalRuntime, workflow: str
) -> None:
    # Given a client that starts a run and retries the same request
    body, key = json.dumps(main(workflow).payload()), f"retry-{uuid.uuid4().hex}"

    first = post_start(workflow, body, key)
    again = post_start(workflow, body, key)

    # Then both answers name the same run, and the state machine has exactly one for that key
    assert first[0] == again[0] == 202, (first, again)
    assert first[1] == again[1]
    machine = runtime.state_machines[workflow]
    runs = runtime.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [r["name"] for r in runs].count(first[1]["executionId"]) == 1
    # and the key with a different body is refused without starting anything
    conflict = post_start(
        workflow, json.dumps(another_valid_body(workflow, json.loads(body), accepted_by(workflow))), key
    )
    assert conflict[0] == 409, conflict
    assert len(runtime.sfn.list_executions(stateMachineArn=machine)["executions"]) == len(runs)
    runtime.wait(first[1]["executionArn"], until="approval", timeout_s=60)
