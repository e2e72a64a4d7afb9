"""Cognito, locally: an issuer that mints client-credentials access tokens, and API Gateway's
``COGNITO_USER_POOLS`` authorizer that checks them before the handler runs.

The issuer signs RS256 access tokens shaped as Cognito's token endpoint issues them for the
client-credentials grant (``sub`` = ``client_id``, ``token_use: access``, ``scope``, ``iss`` =
``https://cognito-idp.<region>.amazonaws.com/<pool id>``, ``exp`` one hour after ``iat``, a ``kid``
in the header that names a key of the pool's JWKS). The authorizer does what API Gateway's does:
the token from the ``Authorization`` header (bare, or after ``Bearer``), a valid signature from a
JWKS key, the pool's issuer, not expired, an *access* token of one of the pool's clients, and at
least one of the method's scopes; then the claims reach the handler as strings under
``requestContext.authorizer.claims``. Any failure, including a missing scope, is API Gateway's
``401 {"message":"Unauthorized"}``: as we read it, its Cognito authorizer answers UNAUTHORIZED for
a token that does not carry the method's scope, not ACCESS_DENIED (not verified against a live
account: ``UNAUTHORIZED`` below is the one place to change). The handler's own scope check, a 403,
is defence in depth behind it.

Verification uses PyJWT (``PyJWT[crypto]``, pinned in requirements-dev.txt): a maintained library
with an explicit algorithm allow-list (no ``alg: none``, no HS256-with-the-public-key confusion),
``exp``/``iat`` checks with required claims, and JWK parsing, instead of hand-rolled RSA checks.

The signing key is kept in ``.stepwise/local-issuer/`` (mode 0600) so that ``python -m local token``
and ``python -m local serve`` agree across processes; tests use an in-memory issuer.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.registry import ROOT
from functions.shared.api_clients import ROUTE_SCOPES, ClientDirectory, local_directory

#: Cognito's default access-token lifetime (a client asks the token endpoint again after it).
TOKEN_TTL_SECONDS: Final = 3600
#: The pool the in-process server plays (the as-deployed one names the template's pool).
LOCAL_REGION: Final = "us-east-1"
LOCAL_POOL_ID: Final = f"{LOCAL_REGION}_StepwiseLocal"
STATE_DIR: Final = ROOT / ".stepwise" / "local-issuer"
UNAUTHORIZED: Final = (401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}')

Answer = tuple[int, dict[str, str], bytes]


def issuer_url(pool_id: str) -> str:
    region = pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


@dataclass(frozen=True)
class LocalClient:
    name: str
    client_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class MethodAuth:
    """One API method's authorization, as the template (or the CDK's table) declares it."""

    authorization_type: str  # "COGNITO_USER_POOLS" or "NONE"
    scopes: tuple[str, ...] = ()


def clients_from_directory(directory: ClientDirectory) -> dict[str, LocalClient]:
    """The in-process pool: each client's id is its name (as ``STEPWISE_API_CLIENTS`` is absent)."""
    return {
        name: LocalClient(name=name, client_id=name, scopes=spec.scopes)
        for name, spec in directory.root.items()
    }


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _persisted_key(directory: Path) -> rsa.RSAPrivateKey:
    path = directory / "signing-key.pem"
    if path.is_file():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey), path
        return loaded
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


@dataclass
class LocalIssuer:
    """A user pool's token endpoint and JWKS, for its client-credentials clients."""

    pool_id: str
    clients: dict[str, LocalClient]  # name → client
    key: rsa.RSAPrivateKey = field(default_factory=_new_key, repr=False)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def in_memory(
        cls, clients: Mapping[str, LocalClient] | None = None, pool_id: str = LOCAL_POOL_ID
    ) -> LocalIssuer:
        return cls(pool_id=pool_id, clients=dict(clients or clients_from_directory(local_directory())))

    @classmethod
    def persisted(
        cls,
        clients: Mapping[str, LocalClient] | None = None,
        pool_id: str = LOCAL_POOL_ID,
        directory: Path = STATE_DIR,
    ) -> LocalIssuer:
        """The issuer whose key lives in ``directory``, shared by ``serve`` and ``token``.

        ``serve`` records its pool and clients there (``issuer.json``) so that ``token`` mints for
        the same pool (the as-deployed one has the template's client ids); without it, the
        in-process pool."""
        key = _persisted_key(directory)
        kid = (
            "local-"
            + jwt.utils.base64url_encode(
                key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)[
                    -12:
                ]
            ).decode()
        )
        if clients is None:
            recorded = directory / "issuer.json"
            if recorded.is_file():
                data = json.loads(recorded.read_text(encoding="utf-8"))
                pool_id = data["pool_id"]
                clients = {
                    n: LocalClient(n, c["client_id"], tuple(c["scopes"])) for n, c in data["clients"].items()
                }
        issuer = cls(
            pool_id=pool_id,
            clients=dict(clients or clients_from_directory(local_directory())),
            key=key,
            kid=kid,
        )
        return issuer

    def record(self, directory: Path = STATE_DIR) -> None:
        """Write the pool and its clients for ``python -m local token`` (no secrets: ids and scopes)."""
        directory.mkdir(parents=True, exist_ok=True)
        data = {
            "pool_id": self.pool_id,
            "clients": {
                c.name: {"client_id": c.client_id, "scopes": list(c.scopes)} for c in self.clients.values()
            },
        }
        (directory / "issuer.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @property
    def iss(self) -> str:
        return issuer_url(self.pool_id)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def mint(
        self,
        client: str,
        scopes: Sequence[str] | None = None,
        *,
        ttl_seconds: int = TOKEN_TTL_SECONDS,
        now: float | None = None,
    ) -> str:
        """An access token for ``client`` with ``scopes`` (default: all it may have), as Cognito's
        token endpoint answers ``grant_type=client_credentials``; a scope the client may not have is
        refused (Cognito's ``invalid_scope``)."""
        known = self.clients.get(client)
        if known is None:
            raise ValueError(f"unknown client {client!r}; known: {sorted(self.clients)}")
        wanted = tuple(scopes) if scopes else known.scopes
        extra = sorted(set(wanted) - set(known.scopes))
        if extra:
            raise ValueError(f"invalid_scope: {client} may not have {extra} (allowed: {list(known.scopes)})")
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": known.client_id,
            "token_use": "access",
            "scope": " ".join(wanted),
            "auth_time": issued,
            "iss": self.iss,
            "exp": issued + ttl_seconds,
            "iat": issued,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": known.client_id,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def _rest_time(epoch: Any) -> str:
    """API Gateway (REST) passes ``exp``/``iat`` claims as a date string, not a number."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


class CognitoAuthorizer:
    """API Gateway's ``COGNITO_USER_POOLS`` authorizer for one pool."""

    def __init__(self, *, iss: str, jwks: Mapping[str, Any], client_ids: set[str], leeway_s: int = 0) -> None:
        self._iss = iss
        self._keys = {k["kid"]: jwt.PyJWK(dict(k)) for k in jwks["keys"]}
        self._client_ids = frozenset(client_ids)
        self._leeway = leeway_s

    @classmethod
    def of(cls, issuer: LocalIssuer) -> CognitoAuthorizer:
        return cls(
            iss=issuer.iss, jwks=issuer.jwks(), client_ids={c.client_id for c in issuer.clients.values()}
        )

    def claims(self, authorization: str | None, scopes: Sequence[str]) -> dict[str, str] | None:
        """The token's claims as API Gateway passes them, or ``None``: 401."""
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return None
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid")))
            if key is None:
                return None
            decoded: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self._iss,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "token_use", "client_id"], "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        if decoded.get("token_use") != "access" or decoded.get("client_id") not in self._client_ids:
            return None
        granted = str(decoded.get("scope") or "").split()
        if scopes and not set(scopes) & set(granted):
            return None
        return {k: _rest_time(v) if k in ("exp", "iat") else str(v) for k, v in decoded.items()}


def in_process_methods() -> dict[tuple[str, str], MethodAuth]:
    """The method table of the in-process server: the same table CDK builds the API from."""
    return {route: MethodAuth("COGNITO_USER_POOLS", (scope,)) for route, scope in ROUTE_SCOPES.items()}


def match_resource(
    methods: Mapping[tuple[str, str], MethodAuth], method: str, path: str
) -> MethodAuth | None:
    """The method whose resource path (``/executions/{executionId}``) matches ``path``."""
    parts = [p for p in path.split("/") if p]
    for (http_method, resource), auth in methods.items():
        if http_method != method:
            continue
        template = [p for p in resource.split("/") if p]
        if len(template) == len(parts) and all(
            t == p or (t.startswith("{") and t.endswith("}")) for t, p in zip(template, parts, strict=True)
        ):
            return auth
    return None


def credentials(issuer: LocalIssuer, client: str, *scopes: str) -> dict[str, str]:
    """Request headers of a machine client: what a test (or a generated client) sends."""
    return {"Authorization": f"Bearer {issuer.mint(client, scopes or None)}"}
