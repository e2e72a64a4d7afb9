"""schemathesis against the local server, from the OpenAPI document the server itself serves.

Every operation of ``GET /openapi.json`` is called with generated requests, valid (positive) and
invalid (negative), and each answer must be: no 5xx, a status the operation documents, a documented
content type, and a body that fits the documented schema. The approval routes also get a real
approval (id and signature of a run parked at its approval), so their 200 answers are checked too,
and a stateful run follows the document's links (start → get). Examples are few and derandomized:
the same requests every run, a bounded wall time. Any finding is a bug of the API, not of this test.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Generated requests per operation and mode: enough to reach every status, few enough for 2 busy cores.
EXAMPLES = 8


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,  # the same requests on every run: a failure reproduces
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def credentials(api: Api) -> dict[str, str]:
    """What a machine client sends (the one place to change when the credential changes)."""
    return api.credentials()


@pytest.fixture
def contract(api: Api) -> Iterator[schemathesis.BaseSchema]:
    """The document as the running server serves it, pointed at that server."""
    schema = schemathesis.openapi.from_url(f"{api.server.url}/openapi.json")
    schema.config.update(base_url=api.server.url)
    yield schema
    _stop_running_runs(api)


def _stop_running_runs(api: Api) -> None:
    """Started runs are stopped, so none outlives the test (best effort: moto may still be starting one)."""
    sfn = api.runtime.sfn
    for arn in api.runtime.state_machines.values():
        for item in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            with contextlib.suppress(Exception):
                sfn.stop_execution(executionArn=item["executionArn"], error="TestOver")


def _exercise(
    operation: Any,
    mode: GenerationMode,
    credentials: dict[str, str],
    calls: Counter[str],
    *,
    examples: int = EXAMPLES,
    adjust: Callable[[Case[Any]], None] | None = None,
    **fixed: Any,
) -> None:
    """``examples`` generated requests to ``operation``, each checked against the contract."""

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @_settings(examples)
    def check(case: Case[Any]) -> None:
        if adjust is not None:
            adjust(case)
        response = case.call_and_validate(headers=credentials, checks=CHECKS)
        calls[f"{operation.label} {response.status_code}"] += 1

    check()


def _operations(schema: schemathesis.BaseSchema) -> dict[str, Any]:
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == len(list(schema.get_all_operations())), "the document has an invalid operation"
    return {operation.label: operation for operation in operations}


def test_every_operation_answers_generated_requests_within_its_contract(
    api: Api, contract: schemathesis.BaseSchema, credentials: dict[str, str]
) -> None:
    # Given the document the server serves (schemathesis leaves out the document's own URL)
    operations = _operations(contract)
    documented = {
        f"{method.upper()} {path}" for path, item in contract.raw_schema["paths"].items() for method in item
    }
    assert set(operations) == documented - {"GET /openapi.json"}
    assert len(operations) >= 10  # 6 workflows' starts, 2 reads, 2 approval routes

    # When every operation gets valid and invalid requests
    calls: Counter[str] = Counter()
    for operation in operations.values():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, credentials, calls)

    # Then every answer fitted the contract (the checks raise otherwise), and the run was no formality:
    # every operation was called, and both the happy and the refusing answers were seen
    called = {label.rsplit(" ", 1)[0] for label in calls}
    assert called == set(operations), set(operations) - called
    assert sum(calls.values()) >= 10 * len(operations), calls
    statuses = {int(label.rsplit(" ", 1)[1]) for label in calls}
    assert {200, 202, 400, 404} <= statuses, calls


def test_the_approval_routes_answer_a_real_link_within_their_contract(
    api: Api, contract: schemathesis.BaseSchema, credentials: dict[str, str], outreach: dict[str, Any]
) -> None:
    # Given a run parked at its approval, and the approver's link (id and signature)
    started = api.start(outreach)
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]
    api.wait_for_approval(execution_id)
    (record,) = api.runtime.pending_approvals(execution_id)
    signature = api.runtime.signed_link_signature(record)
    operations = _operations(contract)

    def signed(case: Case[Any]) -> None:
        if isinstance(case.body, dict):
            case.body = {**case.body, "sig": signature}
        case.headers["content-type"] = "application/json"

    # When the page, the run and the decision get generated requests for that approval
    calls: Counter[str] = Counter()
    ids = {"approval_id": record.approval_id}
    _exercise(
        operations["GET /approvals/{approval_id}"],
        GenerationMode.POSITIVE,
        credentials,
        calls,
        path_parameters=ids,
        query={"sig": signature},
    )
    _exercise(
        operations["GET /executions/{execution_id}"],
        GenerationMode.POSITIVE,
        credentials,
        calls,
        examples=2,
        path_parameters={"execution_id": execution_id},
    )
    _exercise(
        operations["POST /approvals/{approval_id}/decision"],
        GenerationMode.POSITIVE,
        credentials,
        calls,
        path_parameters=ids,
        adjust=signed,
    )

    # Then the HTML page, the run's detail, one decision and the replays that follow all fitted
    assert calls["GET /approvals/{approval_id} 200"] >= 1, calls
    assert calls["GET /executions/{execution_id} 200"] >= 1, calls
    assert calls["POST /approvals/{approval_id}/decision 200"] == 1, calls
    assert calls["POST /approvals/{approval_id}/decision 409"] >= 1, calls


def test_a_started_run_can_be_followed_through_the_documents_links(
    api: Api, contract: schemathesis.BaseSchema, credentials: dict[str, str], outreach: dict[str, Any]
) -> None:
    # Given the document's links (each start's 202 → GET /executions/{execution_id}); redrive is left
    # out (no generated run fails, so it can only answer 401/404/409: the stateless test covers those)
    linked = contract.exclude(operation_id="redrive_execution")

    class Scenario(linked.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"headers": credentials}

        def validate_response(
            self, response: Any, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    # When schemathesis chains calls along them
    Scenario.run(
        settings=settings(
            max_examples=6,
            stateful_step_count=3,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )

    # Then every answer along the chains fitted the contract (the checks raise otherwise); where
    # Hypothesis goes is its own choice (it moved with every change to the document), so the link
    # itself is followed below, deterministically

    # And every start documents the same link, and following it from a real start reads that run
    starts = {
        path: item["post"]["responses"]["202"]["links"]["GetExecution"]
        for path, item in contract.raw_schema["paths"].items()
        if path.startswith("/workflows/")
    }
    assert len(starts) >= 7, starts
    for link in starts.values():
        assert link["operationId"] == "get_execution"
        assert link["parameters"] == {"execution_id": "$response.body#/executionId"}
    started = api.start(outreach)
    assert started.status == 202, started.text
    execution_id = started.json()["executionId"]  # what "$response.body#/executionId" selects
    get = _operations(contract)["GET /executions/{execution_id}"]
    read = get.Case(path_parameters={"execution_id": execution_id}).call_and_validate(
        headers=credentials, checks=CHECKS
    )
    assert read.status_code == 200
    assert read.json()["executionId"] == execution_id


def test_an_answer_the_document_does_not_describe_fails_the_checks(
    api: Api, credentials: dict[str, str]
) -> None:
    # Given the served document, edited so that it no longer describes what the API really answers:
    # a read of an unknown run is a 404 `{"message": ...}`
    served = api.request("GET", "/openapi.json")
    assert served.status == 200
    unknown = {"execution_id": "sales_outreach-unknown"}
    without_404 = served.json()
    del without_404["paths"]["/executions/{execution_id}"]["get"]["responses"]["404"]
    other_body = served.json()
    other_body["components"]["schemas"]["ErrorMessage"]["required"] = ["message", "code"]
    faithful = schemathesis.openapi.from_dict(served.json())
    faithful.config.update(base_url=api.server.url)
    faithful["/executions/{execution_id}"]["GET"].Case(path_parameters=unknown).call_and_validate(
        headers=credentials, checks=CHECKS
    )  # the document as served describes it

    for document in (without_404, other_body):
        schema = schemathesis.openapi.from_dict(document)
        schema.config.update(base_url=api.server.url)
        case = schema["/executions/{execution_id}"]["GET"].Case(path_parameters=unknown)

        # When that answer is checked against the edited document
        # Then the checks fail: an undocumented status, a body off its schema
        with pytest.raises((AssertionError, BaseExceptionGroup)):
            case.call_and_validate(headers=credentials, checks=CHECKS)
