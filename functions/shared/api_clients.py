"""Who may call the machine routes: API clients, their scopes and their accountable owners (#19).

Every machine client is an OAuth2 client-credentials app client of the stage's Cognito user pool
(``infra/auth.py``), declared in the CDK context key ``apiClients`` as
``name → {"owner": email, "scopes": [...]}``. API Gateway's Cognito authorizer checks the token and
the route's scope before the handler runs; the handler then reads the caller from the claims the
authorizer passes (``requestContext.authorizer.claims``) and maps the token's ``client_id`` to the
client's name and owner with ``STEPWISE_API_CLIENTS`` (``[{clientId, name, owner}]``, set by the
stack). The owner is the person accountable for the client: the one who must never approve a run
that client started (``functions/shared/requester.py``).

Only the ``local`` stage falls back to ``examples/api_clients.json`` (where a client's id is its
name, as the local issuer mints it); elsewhere an unknown client id is refused (fail closed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, field_validator

from functions.shared.config import LOCAL_STAGE, StepwiseSettings, env_var
from functions.shared.models import EmailAddress

#: The Cognito resource server and its scopes (``<identifier>/<scope>`` in tokens).
RESOURCE_SERVER: Final = "stepwise"
START_SCOPE: Final = f"{RESOURCE_SERVER}/start"
READ_SCOPE: Final = f"{RESOURCE_SERVER}/read"
#: Resuming a failed run is an operator's act, not a client's: it may run the irreversible steps the
#: failed attempt never reached, on input another client sent. A client that starts runs (or only
#: reads them) cannot redrive unless it is given this scope too.
REDRIVE_SCOPE: Final = f"{RESOURCE_SERVER}/redrive"
SCOPES: Final = (START_SCOPE, READ_SCOPE, REDRIVE_SCOPE)

#: The machine routes and the one scope each needs (API Gateway resource path, as CDK declares it).
#: The approval routes are absent on purpose: their link signature authorizes them.
ROUTE_SCOPES: Final[Mapping[tuple[str, str], str]] = {
    ("POST", "/workflows/{workflow}/executions"): START_SCOPE,
    ("GET", "/executions/{executionId}"): READ_SCOPE,
    ("GET", "/executions"): READ_SCOPE,
    ("POST", "/executions/{executionId}/redrive"): REDRIVE_SCOPE,
}

CONTEXT_KEY: Final = "apiClients"
ENV_VAR: Final = env_var("api_clients")
LOCAL_FILE: Final = Path(__file__).resolve().parents[2] / "examples" / "api_clients.json"


class ClientSpec(BaseModel):
    """One client as the CDK context (and the local file) declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: EmailAddress
    scopes: tuple[str, ...] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; known: {list(SCOPES)}")
        return tuple(dict.fromkeys(scopes))


class ClientDirectory(RootModel[dict[str, ClientSpec]]):
    """name → :class:`ClientSpec`; names are what logs, ``startedBy`` and the Cognito client say."""

    @field_validator("root")
    @classmethod
    def _names(cls, root: dict[str, ClientSpec]) -> dict[str, ClientSpec]:
        bad = [n for n in root if not n or len(n) > 64 or not n.replace("-", "").replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"client names must be 1-64 letters, digits, '-' or '_': {bad}")
        return root


class KnownClient(BaseModel):
    """What the API function knows of a client id (``STEPWISE_API_CLIENTS`` items)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clientId: str
    name: str
    owner: EmailAddress


class StartedBy(BaseModel):
    """Who started a run, recorded in the execution input under ``startedBy`` by the API only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client: str
    clientId: str
    owner: EmailAddress
    scopes: tuple[str, ...]
    subject: str


class UnknownClient(PermissionError):
    """A token this stage's pool issued to a client the stack does not list: refused."""


def local_directory() -> ClientDirectory:
    return ClientDirectory.model_validate_json(LOCAL_FILE.read_text(encoding="utf-8"))


def known_clients(config: StepwiseSettings) -> dict[str, KnownClient]:
    """client id → client: ``STEPWISE_API_CLIENTS``, else (stage ``local``) the example file."""
    if config.api_clients is not None:
        return _parse(config.api_clients)
    if config.stage == LOCAL_STAGE:
        return {
            name: KnownClient(clientId=name, name=name, owner=spec.owner)
            for name, spec in local_directory().root.items()
        }
    return {}


@lru_cache(maxsize=4)
def _parse(raw: str) -> dict[str, KnownClient]:
    try:
        clients = [KnownClient.model_validate(item) for item in json.loads(raw)]
    except (ValueError, ValidationError, TypeError) as exc:
        raise UnknownClient(f"{ENV_VAR} is not a client list: {exc}") from exc
    return {client.clientId: client for client in clients}


def started_by(claims: Mapping[str, Any], config: StepwiseSettings) -> StartedBy:
    """The caller, from the authorizer's claims (strings, as API Gateway passes them)."""
    client_id = str(claims.get("client_id") or "")
    client = known_clients(config).get(client_id)
    if client is None:
        raise UnknownClient(f"client {client_id or '(none)'} is not an API client of this stage")
    return StartedBy(
        client=client.name,
        clientId=client_id,
        owner=client.owner,
        scopes=tuple(str(claims.get("scope") or "").split()),
        subject=str(claims.get("sub") or client_id),
    )


def has_scope(claims: Mapping[str, Any], scope: str) -> bool:
    return scope in str(claims.get("scope") or "").split()
