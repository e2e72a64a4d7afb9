"""Secrets Manager rotation of the approval-link key ring (``functions/shared/link_keys.py``).

Secrets Manager calls this four times per rotation, with the same ``ClientRequestToken``:
``createSecret`` stages the current ring plus a new current key as ``AWSPENDING``; ``setSecret``
has nothing to do (no other system holds the key); ``testSecret`` checks the pending ring signs and
verifies, and still holds every key a live link may name; ``finishSecret`` makes it ``AWSCURRENT``.
Each step is idempotent: a retried step finds its work done. Keys retired longer than the longest
link lifetime plus a margin are dropped, so an old link stays valid exactly until it expires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from functions.shared import link_keys
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.observability import logger

#: Kept beyond the longest link lifetime: clock skew, a link opened at its last second, a slow
#: rotation. A day costs nothing (a retired key only verifies).
RETENTION_MARGIN = timedelta(days=1)
PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"


class RotationEvent(BaseModel):
    step: Literal["createSecret", "setSecret", "testSecret", "finishSecret"] = Field(alias="Step")
    secret_id: str = Field(alias="SecretId", min_length=1)
    token: str = Field(alias="ClientRequestToken", min_length=1)


class RotationError(Exception):
    """The secret is not in a state this rotation can continue from (Secrets Manager retries)."""


def retention() -> timedelta:
    """How long a retired key is kept: every link it signed has expired by then."""
    return timedelta(seconds=settings().approval_ttl_seconds) + RETENTION_MARGIN


def rotate(event: RotationEvent, now: datetime) -> str:
    """Run one step; returns what it did, in words for the log."""
    secrets = client("secretsmanager")
    stages = _stages_of(secrets, event)
    if CURRENT in stages:
        return "already current"
    match event.step:
        case "createSecret":
            return _create(secrets, event, now)
        case "setSecret":
            return "nothing to set: the ring lives in this secret only"
        case "testSecret":
            return _test(secrets, event)
        case "finishSecret":
            return _finish(secrets, event)


def _stages_of(secrets: Any, event: RotationEvent) -> list[str]:
    described = secrets.describe_secret(SecretId=event.secret_id)
    if not described.get("RotationEnabled"):
        raise RotationError(f"rotation is not enabled on {event.secret_id}")
    versions: dict[str, list[str]] = described.get("VersionIdsToStages", {})
    stages = versions.get(event.token)
    if stages is None:
        raise RotationError(f"version {event.token} has no stage for rotation")
    if CURRENT not in stages and PENDING not in stages:
        raise RotationError(f"version {event.token} is not pending")
    return stages


def _value(secrets: Any, event: RotationEvent, **version: str) -> str | None:
    try:
        return str(secrets.get_secret_value(SecretId=event.secret_id, **version)["SecretString"])
    except ClientError as exc:
        if exc.response["Error"].get("Code") == "ResourceNotFoundException":
            return None
        raise


def _create(secrets: Any, event: RotationEvent, now: datetime) -> str:
    if _value(secrets, event, VersionId=event.token, VersionStage=PENDING) is not None:
        return "pending ring exists"
    current = _value(secrets, event, VersionStage=CURRENT)
    if current is None:
        raise RotationError(f"{event.secret_id} has no current value")
    ring = link_keys.parse_ring(current).rotated(now, retention())
    secrets.put_secret_value(
        SecretId=event.secret_id,
        ClientRequestToken=event.token,
        SecretString=ring.to_secret_string(),
        VersionStages=[PENDING],
    )
    return f"staged key {ring.current} ({len(ring.keys)} keys in the ring)"


def _test(secrets: Any, event: RotationEvent) -> str:
    pending = _value(secrets, event, VersionId=event.token, VersionStage=PENDING)
    current = _value(secrets, event, VersionStage=CURRENT)
    if pending is None or current is None:
        raise RotationError("no pending or no current ring to test")
    ring, before = link_keys.parse_ring(pending), link_keys.parse_ring(current)
    # Links signed a moment ago name the key that is current now: it must stay in the ring.
    if before.current not in ring.keys:
        raise RotationError(f"the pending ring drops {before.current}, which signs the live links")
    probe = ("rotation-test", "approver@rotation.test", "2099-01-01T00:00:00Z")
    signature = link_keys.sign(ring, *probe)
    if link_keys.signer(ring, signature, probe[0], [probe[1]], probe[2]) != probe[1]:
        raise RotationError("the pending ring does not verify its own signature")
    return f"ring with current {ring.current} signs and verifies"


def _finish(secrets: Any, event: RotationEvent) -> str:
    described = secrets.describe_secret(SecretId=event.secret_id)
    current_version = next(
        (v for v, stages in described["VersionIdsToStages"].items() if CURRENT in stages), None
    )
    secrets.update_secret_version_stage(
        SecretId=event.secret_id,
        VersionStage=CURRENT,
        MoveToVersionId=event.token,
        **({"RemoveFromVersionId": current_version} if current_version else {}),
    )
    return f"version {event.token} is current"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    parsed = RotationEvent.model_validate(event)
    outcome = rotate(parsed, datetime.now(UTC))
    # The version id and step only: never a key.
    logger.info("link key rotation", step=parsed.step, version=parsed.token, outcome=outcome)
