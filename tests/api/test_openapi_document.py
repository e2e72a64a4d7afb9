"""The OpenAPI document: complete, built from the models the handlers use, served, and exported.

What the running API answers is checked by schemathesis (test_openapi_contract.py); these tests
check the document itself, without a server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api import contract
from functions.api.app import DecisionRequest, app
from functions.api.openapi import document, document_json
from functions.registry import WORKFLOWS
from functions.shared.workflow_input import input_model
from local import openapi as export
from local.server import proxy_event
from tests.reliability.api import post_start


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}


def test_the_exported_copy_is_the_document_the_api_serves() -> None:
    # Given docs/openapi.json, as committed
    # When it is compared with the document generated now
    # Then it is current (`make openapi` rewrites it)
    assert export.EXPORTED.read_text(encoding="utf-8") == document_json(), "run `make openapi`"
    assert export.main(["--check"]) == 0


def test_a_stale_export_is_reported(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an exported copy that lags behind the routes
    stale = tmp_path / "openapi.json"
    stale.write_text(document_json().replace('"1.0.0"', '"0.9.0"'), encoding="utf-8")
    monkeypatch.setattr(export, "EXPORTED", stale)

    # When it is checked, Then the check fails; once rewritten, it passes
    assert export.main(["--check"]) == 1
    assert export.main(["--write"]) == 0
    assert export.main(["--check"]) == 0


def test_every_route_of_the_api_is_documented_with_one_start_path_per_workflow(doc: dict[str, Any]) -> None:
    # Given the resolver's routes
    rules = {(route.method, route.openapi_path) for route in app._static_routes + app._dynamic_routes}

    # When the document's paths are listed
    paths = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}

    # Then each route is there, the start route as one path per registry workflow
    start = ("POST", "/workflows/{workflow}/executions")
    assert start in rules
    assert paths == (rules - {start}) | {("POST", f"/workflows/{name}/executions") for name in WORKFLOWS}
    assert doc["openapi"].startswith("3.1")


def test_request_bodies_are_the_models_the_handlers_validate_with(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    schemas = doc["components"]["schemas"]

    def body_schema(operation_id: str) -> dict[str, Any]:
        ref: str = operations[operation_id]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        resolved: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return resolved

    for name, spec in WORKFLOWS.items():
        model = input_model(spec)
        assert body_schema(f"start_{name}")["properties"] == model.model_json_schema()["properties"], name
    assert set(body_schema("decide")["properties"]) == set(DecisionRequest.model_fields)


def test_machine_routes_need_the_credential_and_approval_routes_none(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == set(contract.SECURITY_SCHEMES)

    machine = {op_id for op_id in operations if op_id.startswith("start_")} | {
        "get_execution",
        "search_executions",
        "redrive_execution",
    }
    for op_id, operation in operations.items():
        if op_id in machine:
            scope = (
                contract.START_SCOPE
                if op_id.startswith("start_")
                else contract.REDRIVE_SCOPE
                if op_id == "redrive_execution"
                else contract.READ_SCOPE
            )
            assert operation["security"] == contract.machine(scope), op_id
            assert "403" in operation["responses"], op_id
        else:
            # The approval links carry their own signature; the document holds no data
            assert operation["security"] == [], op_id


@pytest.mark.parametrize(
    ("body", "key", "status", "model"),
    [
        ("{}", "has space", 400, contract.ValidationErrors),
        ("[1, 2]", None, 400, contract.ValidationErrors),
        ("[" * 40 + "]" * 40, None, 400, contract.ValidationErrors),
        ('{"x": "' + "a" * 300_000 + '"}', None, 413, contract.ErrorMessage),
    ],
)
def test_start_errors_have_the_documented_shape(
    body: str, key: str | None, status: int, model: type[Any]
) -> None:
    # Given a start request the API refuses before it reaches any workflow
    # When it is posted to the handler
    answered, payload = post_start("sales_outreach", body, idempotency_key=key)

    # Then the status is documented for the route and the body fits its model exactly
    assert answered == status
    assert str(status) in document()["paths"]["/workflows/sales_outreach/executions"]["post"]["responses"]
    model.model_validate(payload)


def test_the_document_is_served_by_the_handler_without_a_credential() -> None:
    from functions.api.app import handler
    from local.dispatch import LocalLambdaContext

    # Given a request for the document with no API key (API Gateway lets it through: no key required)
    event = proxy_event("GET", "/openapi.json", {"host": "api.example"}, None, "203.0.113.9")
    context = LocalLambdaContext(
        "stepwise-api", 512, "arn:aws:lambda:us-east-1:123456789012:function:api", 29
    )

    # When the API's handler answers it
    response = handler(event, context)  # type: ignore[arg-type]  # duck-typed LambdaContext

    # Then it is the exported document, as JSON
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert json.loads(response["body"]) == json.loads(export.EXPORTED.read_text(encoding="utf-8"))
