"""Approval links: signature, expiry, approver binding, single use — against a real waiting run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from functions.registry import ROOT
from functions.shared.adapters import get_files
from functions.shared.approvals import (
    AlreadyDecided,
    ApprovalNotFound,
    ApprovalRecord,
    ApprovalService,
    BadSignature,
    Decision,
    Draft,
    LinkExpired,
    sign,
    verify,
)
from functions.shared.approvers import ApproverNotAllowed
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import PermanentIntegrationError
from local.runtime import LocalRuntime


@pytest.fixture
def waiting(runtime: LocalRuntime) -> tuple[LocalRuntime, ApprovalRecord, str]:
    payload = json.loads((ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8"))
    arn = runtime.start("sales_outreach", payload)
    runtime.wait(arn, until="approval")
    (record,) = runtime.pending_approvals(arn.rsplit(":", 1)[-1])
    return runtime, record, arn


def test_a_signature_is_bound_to_the_approval_the_approver_and_the_expiry() -> None:
    secret = SecretStr("k" * 32)
    record = _record(approval_id="a1", approver="boss@corp.example", expires_at="2030-01-01T00:00:00Z")
    good = sign("a1", "boss@corp.example", "2030-01-01T00:00:00Z", secret)
    assert verify(record, good, secret)
    assert not verify(record, sign("a2", "boss@corp.example", "2030-01-01T00:00:00Z", secret), secret)
    assert not verify(record, sign("a1", "intern@corp.example", "2030-01-01T00:00:00Z", secret), secret)
    assert not verify(record, sign("a1", "boss@corp.example", "2031-01-01T00:00:00Z", secret), secret)
    assert not verify(record, good, SecretStr("other-secret"))
    assert not verify(record, good[:-1] + ("A" if good[-1] != "A" else "B"), secret)


def test_tampered_signature_is_refused_and_changes_nothing(
    waiting: tuple[LocalRuntime, ApprovalRecord, str],
) -> None:
    runtime, record, _ = waiting
    with pytest.raises(BadSignature):
        runtime.approvals().decide(record.approval_id, "x" * 43, Decision(decision="approve"), get_files())
    stored = runtime.approvals().store.get(record.approval_id)
    assert stored is not None
    assert stored.status == "PENDING"


def test_unknown_approval_is_not_found(runtime: LocalRuntime) -> None:
    with pytest.raises(ApprovalNotFound):
        runtime.approvals().get_verified("no-such-approval", "sig")


def test_expired_link_is_refused(waiting: tuple[LocalRuntime, ApprovalRecord, str]) -> None:
    runtime, record, _ = waiting
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    client("dynamodb").update_item(
        TableName=settings().approvals_table,
        Key={"approval_id": {"S": record.approval_id}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"S": past}},
    )
    expired = record.model_copy(update={"expires_at": past})
    with pytest.raises(LinkExpired):
        runtime.approvals().get_verified(record.approval_id, runtime.signed_link_signature(expired))


def test_a_decision_is_single_use(waiting: tuple[LocalRuntime, ApprovalRecord, str]) -> None:
    runtime, record, arn = waiting
    decided = runtime.decide(record, Decision(decision="reject", comment="no"))
    assert decided.status == "REJECTED"
    assert decided.decided_by == "sales-lead@acme-demo.com"
    with pytest.raises(AlreadyDecided):
        runtime.decide(record, Decision(decision="approve"))
    assert runtime.wait(arn)["status"] == "SUCCEEDED"


def test_a_decision_for_a_token_step_functions_no_longer_knows_is_already_decided(
    runtime: LocalRuntime,
) -> None:
    # Given an approval whose task token is dead (the task timed out or the run ended meanwhile)
    service = runtime.approvals()
    record = service.create(
        execution="run-gone",
        workflow="sales_outreach",
        state="RequestApproval",
        approver="sales-lead@acme-demo.com",
        action="send",
        draft=Draft(subject="s", body_key="k", body_sha256="0" * 64),
        task_token=SecretStr("token-of-a-finished-task"),
    )
    # Then approving reports "already decided" (HTTP 409), not a server error
    with pytest.raises(AlreadyDecided, match="no longer waiting"):
        runtime.decide(record, Decision(decision="approve"))
    # and the record says the decision reached nobody
    stored = service.store.get(record.approval_id)
    assert stored is not None
    assert stored.status == "EXPIRED"


def test_a_decision_that_could_not_be_delivered_can_be_made_again(
    waiting: tuple[LocalRuntime, ApprovalRecord, str],
) -> None:
    # Given KMS is unavailable when the approver decides
    runtime, record, arn = waiting
    failures = [ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "Decrypt")]

    def kms_down(**_: Any) -> None:
        if failures:
            raise failures.pop()

    client("kms").meta.events.register("before-call.kms.Decrypt", kms_down)
    with pytest.raises(PermanentIntegrationError):
        runtime.decide(record, Decision(decision="approve"))
    # Then the approval is still pending, and deciding again once KMS is back resumes the run
    stored = runtime.approvals().store.get(record.approval_id)
    assert stored is not None
    assert stored.status == "PENDING"
    assert runtime.decide(record, Decision(decision="approve")).status == "APPROVED"
    assert runtime.wait(arn)["status"] == "SUCCEEDED"


def test_the_sealed_token_only_opens_for_its_own_record(
    waiting: tuple[LocalRuntime, ApprovalRecord, str],
) -> None:
    runtime, record, _ = waiting
    other = record.model_copy(update={"approval_id": "someone-else"})
    vault = runtime.approvals()._vault
    with pytest.raises(PermanentIntegrationError):
        vault.open(other.sealed_token, {"approval_id": other.approval_id, "execution": other.execution})


def _record(**overrides: Any) -> ApprovalRecord:
    base: dict[str, Any] = {
        "approval_id": "a1",
        "execution": "run-1",
        "workflow": "sales_outreach",
        "state": "RequestApproval",
        "approver": "boss@corp.example",
        "action": "send",
        "draft": {"subject": "s", "body_key": "k", "body_sha256": "0" * 64},
        "created_at": "2029-12-31T00:00:00Z",
        "expires_at": "2030-01-01T00:00:00Z",
        "sealed_token": "sealed",
        "ttl": 0,
    }
    return ApprovalRecord.model_validate({**base, **overrides})


def test_in_the_cloud_the_link_key_comes_from_secrets_manager(runtime: LocalRuntime) -> None:
    # Given only the secret's ARN, as CDK configures the functions (no key in the environment)
    key = "k" * 64
    arn = client("secretsmanager").create_secret(Name="stepwise-test-signing", SecretString=key)["ARN"]
    cloud = settings().model_copy(
        update={"approval_signing_secret": None, "approval_signing_secret_arn": arn}
    )
    record = _record(approver="boss@corp.example", expires_at="2030-01-01T00:00:00Z")

    # When a link is signed
    link = ApprovalService(cloud).link(record)

    # Then it carries the HMAC made with the stored key
    assert link.endswith(
        "?sig=" + sign(record.approval_id, record.approver, record.expires_at, SecretStr(key))
    )


def test_without_any_link_key_signing_fails_loudly(runtime: LocalRuntime) -> None:
    bare = settings().model_copy(
        update={"approval_signing_secret": None, "approval_signing_secret_arn": None}
    )
    with pytest.raises(PermanentIntegrationError, match="signing secret is not configured"):
        ApprovalService(bare).link(_record())


def test_the_approval_service_refuses_an_approver_the_directory_does_not_allow(runtime: LocalRuntime) -> None:
    # Given an approval step that somehow holds an address outside the directory (defence in depth)
    service = runtime.approvals()

    # When it asks for the approval / Then nothing is stored, so no link can be sent or used
    with pytest.raises(ApproverNotAllowed, match=r"mallory@evil\.example"):
        service.create(
            execution="run-mallory",
            workflow="referral",
            state="RewardRequestApproval",
            approver="mallory@evil.example",
            action="Grant a $1,000.00 referral credit",
            draft=Draft(subject="s", body_key="k", body_sha256="0" * 64),
            task_token=SecretStr("token"),
        )
    assert list(service.store.for_execution("run-mallory")) == []
    # ... and an address allowed for another workflow is no approver here either
    with pytest.raises(ApproverNotAllowed):
        service.create(
            execution="run-mallory",
            workflow="referral",
            state="RewardRequestApproval",
            approver="sales-lead@acme-demo.com",
            action="Grant",
            draft=Draft(subject="s", body_key="k", body_sha256="0" * 64),
            task_token=SecretStr("token"),
        )
