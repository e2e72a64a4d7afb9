"""``POST /workflows/{wf}/executions`` through the real Powertools app with an API Gateway event.

No HTTP server: the event is what API Gateway's Lambda proxy integration delivers (built by the
local server's ``proxy_event``), so the answer is exactly the handler's.
"""

from __future__ import annotations

import json
from typing import Any

from local.auth import CognitoAuthorizer, LocalIssuer
from local.dispatch import LocalLambdaContext
from local.server import proxy_event


def authorizer_claims(client: str = "crm-sync") -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer passes for a start token of ``client``."""
    issuer = LocalIssuer.in_memory()
    claims = CognitoAuthorizer.of(issuer).claims(issuer.mint(client), ["stepwise/start"])
    assert claims is not None
    return claims


def post_start(workflow: str, body: str, idempotency_key: str | None = None) -> tuple[int, Any]:
    from functions.api.app import handler

    headers = {"content-type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    event = proxy_event(
        "POST", f"/workflows/{workflow}/executions", headers, body, "127.0.0.1", claims=authorizer_claims()
    )
    context = LocalLambdaContext(
        "stepwise-api", 512, "arn:aws:lambda:us-east-1:123456789012:function:api", 29
    )
    response = handler(event, context)  # type: ignore[arg-type]  # duck-typed LambdaContext
    return int(response["statusCode"]), json.loads(response["body"] or "null")
