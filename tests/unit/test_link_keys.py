"""Versioned approval-link keys: links name their key, rotations kill no link, containers catch up.

The rotation runs the real handler's steps against moto's Secrets Manager; moto cannot invoke a
rotation Lambda, so ``_secrets_manager_starts_rotation`` does what the service does before it calls
``createSecret``: enable rotation and stage an empty ``AWSPENDING`` version for the request token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends
from pydantic import SecretStr

from functions.api.rotate_link_keys import RotationError, RotationEvent, retention, rotate
from functions.shared import link_keys
from functions.shared.approvals import ApprovalRecord, ApprovalService, BadSignature, LinkExpired
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.link_keys import LEGACY_KID, KeyRing, LinkKeys, parse_ring
from local.assembly import ACCOUNT

APPROVER = "boss@corp.example"


# --- helpers ------------------------------------------------------------------------------------------
def _secrets_manager_starts_rotation(arn: str) -> str:
    """What Secrets Manager does before ``createSecret``: rotation on, an empty pending version."""
    secret = secretsmanager_backends[ACCOUNT]["us-east-1"].secrets[arn]
    assert isinstance(secret, FakeSecret)
    secret.rotation_enabled = secret.rotation_requested = True
    token = str(uuid.uuid4())
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    return token


def _rotate(arn: str, now: datetime) -> None:
    token = _secrets_manager_starts_rotation(arn)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotate(
            RotationEvent.model_validate({"Step": step, "SecretId": arn, "ClientRequestToken": token}), now
        )


def _current_ring(arn: str) -> KeyRing:
    value = client("secretsmanager").get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    return parse_ring(value["SecretString"])


def _record(approval_id: str, expires_at: datetime) -> ApprovalRecord:
    stamp = expires_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return ApprovalRecord.model_validate(
        {
            "approval_id": approval_id,
            "execution": "run-1",
            "workflow": "sales_outreach",
            "state": "RequestApproval",
            "approver": APPROVER,
            "action": "send",
            "draft": {"subject": "s", "body_key": "k", "body_sha256": "0" * 64},
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": stamp,
            "sealed_token": "sealed",
            "ttl": 0,
        }
    )


@pytest.fixture
def cloud(moto_aws: None) -> Iterator[tuple[ApprovalService, str]]:
    """An approval service configured as CDK configures it: only the signing secret's ARN, whose
    value CloudFormation generated as a plain string (the ring's key ``k0``)."""
    name = f"signing-{uuid.uuid4().hex[:8]}"
    arn = client("secretsmanager").create_secret(Name=name, SecretString="g" * 64)["ARN"]
    config = settings().model_copy(
        update={"approval_signing_secret": None, "approval_signing_secret_arn": arn}
    )
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools caches secrets per process: every test starts as a fresh container
    yield ApprovalService(config), arn
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _signature(link: str) -> str:
    return link.rsplit("?sig=", 1)[1]


# --- the ring -------------------------------------------------------------------------------------------
def test_the_generated_plain_secret_is_a_one_key_ring_and_links_name_that_key() -> None:
    # Given the secret as CloudFormation generates it
    ring = parse_ring("g" * 64)

    # When a link is signed
    signature = link_keys.sign(ring, "a1", APPROVER, "2030-01-01T00:00:00Z")

    # Then it names the key k0 and verifies for its approver only
    assert ring.current == LEGACY_KID
    assert signature.startswith("v1-k0-")
    assert link_keys.signer(ring, signature, "a1", [APPROVER], "2030-01-01T00:00:00Z") == APPROVER
    assert link_keys.signer(ring, signature, "a1", ["intern@corp.example"], "2030-01-01T00:00:00Z") is None
    assert link_keys.signer(ring, signature, "a2", [APPROVER], "2030-01-01T00:00:00Z") is None


def test_a_link_signed_before_key_ids_existed_is_accepted_while_k0_is_in_the_ring() -> None:
    # Given a bare MAC, as links were signed before this change, under the generated key
    ring = parse_ring("g" * 64)
    legacy = link_keys._legacy_signature(ring, "a1", APPROVER, "2030-01-01T00:00:00Z")
    assert len(legacy) == 43

    # Then it is valid with k0, and only with k0: once a rotation dropped k0 it is refused
    assert link_keys.signer(ring, legacy, "a1", [APPROVER], "2030-01-01T00:00:00Z") == APPROVER
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rotated = ring.rotated(now, timedelta(days=4))
    assert link_keys.signer(rotated, legacy, "a1", [APPROVER], "2030-01-01T00:00:00Z") == APPROVER
    later = rotated.rotated(now + timedelta(days=30), timedelta(days=4))
    assert LEGACY_KID not in later.keys
    assert link_keys.signer(later, legacy, "a1", [APPROVER], "2030-01-01T00:00:00Z") is None


def test_a_rotation_retires_the_current_key_and_drops_keys_retired_longer_than_the_retention() -> None:
    # Given a ring rotated once a month, with a 4-day retention
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = parse_ring("g" * 64).rotated(start, timedelta(days=4))
    second = first.rotated(start + timedelta(days=30), timedelta(days=4))

    # Then each rotation makes a new current key, keeps the one it retired, and drops older ones
    assert first.current == "k20260101000000"
    assert set(first.keys) == {LEGACY_KID, first.current}
    assert first.keys[LEGACY_KID].retired_at == "2026-01-01T00:00:00Z"
    assert set(second.keys) == {first.current, second.current}
    assert second.keys[first.current].retired_at == "2026-01-31T00:00:00Z"
    assert (
        second.keys[second.current].secret.get_secret_value()
        != first.keys[first.current].secret.get_secret_value()
    )
    # and the ring round-trips through the secret's JSON
    assert parse_ring(second.to_secret_string()) == second


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "v1-k1",
        "v2-k0-" + "A" * 43,
        "v1-kx-" + "A" * 43,
        "v1-k0-" + "A" * 42,
        "A" * 44,
        "v1.k0." + "A" * 43,
    ],
)
def test_a_malformed_signature_names_no_key(signature: str) -> None:
    assert link_keys.key_id(signature) is None


def test_an_unknown_key_id_refreshes_the_ring_at_most_once_per_interval() -> None:
    # Given a container whose cached ring is stale, and a clock
    loads: list[bool] = []
    now = [100.0]

    def load(force: bool) -> str:
        loads.append(force)
        return "g" * 64

    keys = LinkKeys(f"test-{uuid.uuid4()}", load, clock=lambda: now[0])
    unknown = "v1-k20990101000000-" + "A" * 43

    # When links name a key it does not hold, twice in a row, then again after the interval
    assert keys.signer(unknown, "a1", [APPROVER], "2030-01-01T00:00:00Z") is None
    assert keys.signer(unknown, "a1", [APPROVER], "2030-01-01T00:00:00Z") is None
    now[0] += link_keys.REFRESH_INTERVAL_S
    assert keys.signer(unknown, "a1", [APPROVER], "2030-01-01T00:00:00Z") is None

    # Then the secret was read again once per interval, never for a malformed signature
    assert keys.signer("garbage", "a1", [APPROVER], "2030-01-01T00:00:00Z") is None
    assert loads.count(True) == 2


# --- the service across a rotation (Secrets Manager on moto) -------------------------------------------
def test_a_link_signed_before_a_rotation_stays_valid_until_it_expires(
    cloud: tuple[ApprovalService, str],
) -> None:
    # Given a pending approval whose link was signed with the key CloudFormation generated
    service, arn = cloud
    record = _record("a-before", datetime.now(UTC) + timedelta(hours=1))
    service.store.put_new(record)
    old_link = _signature(service.link(record))
    assert old_link.startswith("v1-k0-")

    # When the key ring rotates
    _rotate(arn, datetime.now(UTC))

    # Then the old link still opens the approval
    assert service.authenticate(record.approval_id, old_link) == (record, APPROVER)
    # ... and once the container's 5-minute cache has expired (here: a fresh container), new links
    # name the new key (until then they are signed with the old one, which stays valid)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    new_kid = _current_ring(arn).current
    assert new_kid != LEGACY_KID
    after = _record("a-after", datetime.now(UTC) + timedelta(hours=1))
    service.store.put_new(after)
    new_link = _signature(service.link(after))
    assert new_link.startswith(f"v1-{new_kid}-")
    assert service.authenticate(after.approval_id, new_link) == (after, APPROVER)

    # ... until the link itself expires (the record's expiry, as before)
    expired = _record("a-expired", datetime.now(UTC) - timedelta(seconds=1))
    service.store.put_new(expired)
    with pytest.raises(LinkExpired):
        service.authenticate(expired.approval_id, _signature(service.link(expired)))


def test_the_old_key_is_dropped_only_after_every_link_it_signed_has_expired(
    cloud: tuple[ApprovalService, str],
) -> None:
    # Given the generated key, retired by a rotation now
    _, arn = cloud
    now = datetime.now(UTC)
    _rotate(arn, now)
    assert LEGACY_KID in _current_ring(arn).keys

    # When the ring rotates again just before the retention (longest link lifetime + margin) is over
    _rotate(arn, now + retention() - timedelta(minutes=1))
    # Then the old key is still there; at the next rotation after it, it is gone
    assert LEGACY_KID in _current_ring(arn).keys
    _rotate(arn, now + retention() + timedelta(minutes=1))
    assert LEGACY_KID not in _current_ring(arn).keys
    assert retention() > timedelta(seconds=settings().approval_ttl_seconds)


def test_a_container_with_a_stale_cache_accepts_a_link_signed_with_the_new_key(
    cloud: tuple[ApprovalService, str],
) -> None:
    # Given a container that read (and cached) the ring before a rotation
    service, arn = cloud
    record = _record("a-stale", datetime.now(UTC) + timedelta(hours=1))
    service.store.put_new(record)
    service.link(record)
    _rotate(arn, datetime.now(UTC))
    assert service._keys().ring().current == LEGACY_KID  # still the cached ring

    # When another container (already on the new ring) signed the link it receives
    fresh = _current_ring(arn)
    signature = link_keys.sign(fresh, record.approval_id, APPROVER, record.expires_at)

    # Then it reads the secret again once and accepts the link
    assert service.authenticate(record.approval_id, signature) == (record, APPROVER)
    assert service._keys().ring().current == fresh.current


def test_a_key_id_unknown_even_after_a_refresh_is_a_bad_signature(cloud: tuple[ApprovalService, str]) -> None:
    # Given a link that names a key the secret never held, signed with a key of the attacker's
    service, _ = cloud
    record = _record("a-forged", datetime.now(UTC) + timedelta(hours=1))
    service.store.put_new(record)
    forged_ring = KeyRing.model_validate(
        {"current": "k20990101000000", "keys": {"k20990101000000": {"secret": "attacker" * 8}}}
    )
    forged = link_keys.sign(forged_ring, record.approval_id, APPROVER, record.expires_at)

    # When / Then it is refused (403), after one fresh read of the secret
    with pytest.raises(BadSignature):
        service.authenticate(record.approval_id, forged)


# --- the rotation Lambda's steps -------------------------------------------------------------------------
def test_rotation_steps_stage_test_and_promote_a_new_ring_and_each_is_idempotent(
    cloud: tuple[ApprovalService, str],
) -> None:
    # Given a secret Secrets Manager is rotating
    _, arn = cloud
    token = _secrets_manager_starts_rotation(arn)
    now = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)

    def step(name: str) -> str:
        return rotate(
            RotationEvent.model_validate({"Step": name, "SecretId": arn, "ClientRequestToken": token}), now
        )

    # When each step runs, and createSecret and finishSecret are retried
    assert step("createSecret").startswith("staged key k20261207210000")
    assert step("createSecret") == "pending ring exists"
    pending = client("secretsmanager").get_secret_value(
        SecretId=arn, VersionId=token, VersionStage="AWSPENDING"
    )
    assert parse_ring(pending["SecretString"]).current == "k20261207210000"
    assert _current_ring(arn).current == LEGACY_KID  # nothing changes before finishSecret
    step("setSecret")
    step("testSecret")
    step("finishSecret")
    assert step("finishSecret") == "already current"

    # Then the new ring is current, with the generated key kept for the links it signed
    ring = _current_ring(arn)
    assert (ring.current, set(ring.keys)) == ("k20261207210000", {LEGACY_KID, "k20261207210000"})
    stages = client("secretsmanager").describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]


def test_test_secret_refuses_a_pending_ring_that_drops_the_key_of_the_live_links(
    cloud: tuple[ApprovalService, str],
) -> None:
    # Given a pending version that someone staged without the current key
    _, arn = cloud
    token = _secrets_manager_starts_rotation(arn)
    other = KeyRing.model_validate({"current": "k1", "keys": {"k1": {"secret": "n" * 64}}})
    client("secretsmanager").put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=other.to_secret_string(),
        VersionStages=["AWSPENDING"],
    )

    # When / Then testSecret fails the rotation (the current version stays current)
    event = RotationEvent.model_validate({"Step": "testSecret", "SecretId": arn, "ClientRequestToken": token})
    with pytest.raises(RotationError, match="drops k0"):
        rotate(event, datetime.now(UTC))
    assert _current_ring(arn).current == LEGACY_KID


def test_a_step_for_a_version_that_is_not_being_rotated_is_refused(
    cloud: tuple[ApprovalService, str],
) -> None:
    _, arn = cloud
    _secrets_manager_starts_rotation(arn)
    event = RotationEvent.model_validate(
        {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": str(uuid.uuid4())}
    )
    with pytest.raises(RotationError, match="no stage for rotation"):
        rotate(event, datetime.now(UTC))


def test_the_rotation_handler_logs_no_key_material(
    cloud: tuple[ApprovalService, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a rotation driven through the Lambda handler itself
    from functions.api.rotate_link_keys import handler

    _, arn = cloud
    token = _secrets_manager_starts_rotation(arn)

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "rotate", 256, "r-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rotate"

    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event: dict[str, Any] = {"Step": step, "SecretId": arn, "ClientRequestToken": token}
        handler(event, Context())  # type: ignore[arg-type]

    # Then no key of the ring appears in its logs
    logged = capsys.readouterr()
    for key in _current_ring(arn).keys.values():
        assert key.secret.get_secret_value() not in logged.out + logged.err


def test_a_corrupt_ring_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="not in the ring"):
        parse_ring('{"current": "k2", "keys": {"k1": {"secret": "x"}}}')
    with pytest.raises(ValueError, match="empty"):
        KeyRing(current="k1", keys={"k1": link_keys.LinkKey(secret=SecretStr(""))})
