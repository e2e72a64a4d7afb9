"""The OpenAPI 3.1 document of the HTTP API, generated from the routes and the same pydantic models.

Powertools builds the paths, operations, responses and security from the route decorators (whose
arguments live in ``functions/api/contract.py``). What it cannot see is added here: the start body
depends on the workflow in the path, so the document has one start path per registry workflow, each
with the input model ``validate_input`` checks; the decision body is the handler's ``DecisionRequest``;
and the query and header parameters the handlers read by hand are described from the same constants.

Served at ``GET /openapi.json`` (no credential: it holds no data), exported to ``docs/openapi.json``
by ``python -m local openapi --write`` (a test fails when the file is stale), and checked against the
running API by schemathesis (``tests/api/test_openapi_contract.py``).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any, Final

from aws_lambda_powertools.event_handler.openapi.models import Server
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.api.contract import SECURITY_SCHEMES
from functions.registry import WORKFLOWS
from functions.shared.workflow_input import input_model

TITLE: Final = "Stepwise"
#: The contract's version: bump it with any change a client would notice.
VERSION: Final = "1.0.0"
DESCRIPTION: Final = (
    "Start and follow multi-step workflow runs, and decide their human approvals. Machine routes need "
    "a credential; approval routes are opened from emailed links and authorized by the link's signature."
)
_REF: Final = "#/components/schemas/{model}"
_START_TEMPLATE: Final = "/workflows/{workflow}/executions"


def _parameter(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema, "description": description}


def _extra_parameters() -> dict[str, list[dict[str, Any]]]:
    """operationId → the parameters its handler reads without a typed argument."""
    from functions.api.app import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY
    from functions.api.executions import MAX_SEARCH, STATUSES

    return {
        "start_execution": [
            _parameter(
                "Idempotency-Key",
                "header",
                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                "Printable ASCII (`" + IDEMPOTENCY_KEY_PATTERN + "`): the same key and body give the same"
                " run; the same key with another body is a 409.",
            )
        ],
        "search_executions": [
            _parameter(
                "workflow", "query", {"type": "string", "enum": list(WORKFLOWS)}, "Only this workflow."
            ),
            _parameter("status", "query", {"type": "string", "enum": sorted(STATUSES)}, "Only this status."),
            _parameter(
                "businessKey", "query", {"type": "string"}, "Runs whose business key (e.g. lead id) is this."
            ),
            _parameter(
                "limit",
                "query",
                {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH, "default": 25},
                "At most this many runs.",
            ),
        ],
        "approval_page": [
            _parameter("sig", "query", {"type": "string"}, "The link's signature, as emailed."),
        ],
    }


def _request_bodies() -> tuple[dict[str, type[BaseModel]], dict[str, Any]]:
    """operationId → its body model, and the JSON schemas of every body model (components)."""
    from functions.api.app import DecisionRequest

    bodies: dict[str, type[BaseModel]] = {
        f"start_{name}": input_model(spec) for name, spec in WORKFLOWS.items()
    }
    bodies["decide"] = DecisionRequest
    _, schemas = models_json_schema([(model, "validation") for model in bodies.values()], ref_template=_REF)
    return bodies, schemas.get("$defs", {})


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


def _start_per_workflow(paths: dict[str, Any], bodies: dict[str, type[BaseModel]]) -> None:
    """``/workflows/{workflow}/executions`` → one path per workflow, each with its own input model."""
    template = paths.pop(_START_TEMPLATE)["post"]
    template["parameters"] = [p for p in template.get("parameters", []) if p["name"] != "workflow"]
    for name, spec in WORKFLOWS.items():
        operation = copy.deepcopy(template)
        operation["operationId"] = f"start_{name}"
        operation["summary"] = f"Start a {name} run"
        operation["description"] = f"{spec.description}. {template.get('description', '')}".strip()
        operation["requestBody"] = _json_body(bodies[operation["operationId"]])
        operation["responses"]["202"]["links"] = {
            "GetExecution": {
                "operationId": "get_execution",
                "parameters": {"execution_id": "$response.body#/executionId"},
                "description": "Follow the run that was started.",
            }
        }
        paths[_START_TEMPLATE.replace("{workflow}", name)] = {"post": operation}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``functions.api.app.app``, as a JSON-ready dict."""
    from functions.api.app import app

    generated = app.get_openapi_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        # Relative to where the document is served: the stage URL in the cloud, the server locally.
        servers=[Server(url=".", description="This API (relative to the document's own URL)")],
        security_schemes=SECURITY_SCHEMES,
    )
    doc: dict[str, Any] = json.loads(generated.model_dump_json(by_alias=True, exclude_none=True))
    bodies, schemas = _request_bodies()
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    clashes = {name for name in schemas if name in components and components[name] != schemas[name]}
    if clashes:
        raise ValueError(f"two models share a schema name: {sorted(clashes)}")
    components.update(schemas)
    paths: dict[str, Any] = doc["paths"]
    _start_per_workflow(paths, bodies)
    extra = _extra_parameters()
    for path_item in paths.values():
        for operation in path_item.values():
            operation_id = operation["operationId"]
            operation.setdefault("parameters", []).extend(extra.get(operation_id, []))
            if not operation["parameters"]:
                del operation["parameters"]
            if operation_id in bodies:
                operation["requestBody"] = _json_body(bodies[operation_id])
            operation.setdefault("security", [])  # said, not implied: these routes take no credential
    _drop_unreferenced(components, doc)
    doc["paths"] = dict(sorted(paths.items()))
    doc["components"]["schemas"] = dict(sorted(components.items()))
    return doc


def _drop_unreferenced(components: dict[str, Any], doc: dict[str, Any]) -> None:
    """Remove the schemas nothing refers to (Powertools adds its 422 models, which no route answers)."""
    while True:
        text = json.dumps(doc)
        unused = [name for name in components if f'"{_REF.format(model=name)}"' not in text]
        if not unused:
            return
        for name in unused:
            del components[name]


@cache
def document_json() -> str:
    """The document as served and exported (stable key order, a final newline)."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
