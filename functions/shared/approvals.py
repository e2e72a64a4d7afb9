"""Human approval through Step Functions task tokens (design contract "Human approval").

Only this module ever holds a raw task token: it arrives in the ``request_approval`` step's
event, is sealed with KMS before it is stored, and is unsealed only to call
``SendTaskSuccess``/``SendTaskFailure`` after a decision was consumed. Links carry an opaque
random ``approval_id`` and an HMAC-SHA256 signature bound to (approval id, approver, expiry);
a decision moves the record from PENDING exactly once (DynamoDB conditional update), so a replay
gets ``AlreadyDecided`` (HTTP 409), never a second ``SendTask*`` call.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, SecretStr

from functions.shared.aws import client
from functions.shared.config import StepwiseSettings
from functions.shared.errors import PermanentIntegrationError, TransientIntegrationError
from functions.shared.models import EmailAddress
from functions.shared.ports.files import FileStore, sha256_text

ApprovalStatus = Literal["PENDING", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED", "SUPERSEDED"]


class ApprovalError(Exception):
    """Base of the decision errors; ``http_status`` is what the API answers."""

    http_status = 400


class ApprovalNotFound(ApprovalError):
    http_status = 404


class BadSignature(ApprovalError):
    http_status = 403


class LinkExpired(ApprovalError):
    http_status = 403


class AlreadyDecided(ApprovalError):
    http_status = 409


class Draft(BaseModel):
    """The text an approver decides on, stored in file storage."""

    subject: str
    body_key: str
    body_sha256: str


class ApprovalRecord(BaseModel):
    """One item of the approvals table. ``sealed_token`` is KMS ciphertext, never shown."""

    approval_id: str
    execution: str
    workflow: str
    state: str
    approver: EmailAddress
    action: str  # what approving will do, in words the approver reads ("send this email to ...")
    draft: Draft
    status: ApprovalStatus = "PENDING"
    created_at: str
    expires_at: str
    sealed_token: str = Field(repr=False)
    decided_by: str | None = None
    decided_at: str | None = None
    comment: str | None = None
    edit_diff: str | None = None
    ttl: int

    def public_view(self) -> dict[str, Any]:
        """Everything but the sealed token: what pages, APIs and logs may show."""
        return self.model_dump(mode="json", exclude={"sealed_token", "ttl"})


class Decision(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=2000)
    #: Approve-with-edits: replacement subject and/or body for the draft.
    edited_subject: str | None = Field(default=None, min_length=1, max_length=120)
    edited_body: str | None = Field(default=None, min_length=1, max_length=3000)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sign(approval_id: str, approver: str, expires_at: str, secret: SecretStr) -> str:
    message = f"{approval_id}\n{approver}\n{expires_at}".encode()
    digest = hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(record: ApprovalRecord, signature: str, secret: SecretStr) -> bool:
    expected = sign(record.approval_id, record.approver, record.expires_at, secret)
    return hmac.compare_digest(expected.encode(), signature.encode())


class TokenVault:
    """Seals task tokens with a KMS key so the approvals table never holds them in clear."""

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    def seal(self, token: SecretStr, context: dict[str, str]) -> str:
        try:
            blob = client("kms").encrypt(
                KeyId=self._key_id, Plaintext=token.get_secret_value().encode(), EncryptionContext=context
            )["CiphertextBlob"]
        except ClientError as exc:
            raise TransientIntegrationError(f"kms.encrypt: {exc.response['Error'].get('Code')}") from exc
        return base64.b64encode(blob).decode()

    def open(self, sealed: str, context: dict[str, str]) -> SecretStr:
        try:
            plain = client("kms").decrypt(CiphertextBlob=base64.b64decode(sealed), EncryptionContext=context)[
                "Plaintext"
            ]
        except ClientError as exc:
            raise PermanentIntegrationError(f"kms.decrypt: {exc.response['Error'].get('Code')}") from exc
        return SecretStr(plain.decode())


class ApprovalStore:
    """The approvals table: records and their one-way status transitions."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def put_new(self, record: ApprovalRecord) -> None:
        client("dynamodb").put_item(
            TableName=self._table,
            Item=_to_item(record),
            ConditionExpression="attribute_not_exists(approval_id)",
        )

    def get(self, approval_id: str) -> ApprovalRecord | None:
        item = client("dynamodb").get_item(
            TableName=self._table, Key={"approval_id": {"S": approval_id}}, ConsistentRead=True
        )
        return _from_item(item["Item"]) if "Item" in item else None

    def for_execution(self, execution: str) -> Iterator[ApprovalRecord]:
        paginator = client("dynamodb").get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName="gsi_execution",
            KeyConditionExpression="execution = :e",
            ExpressionAttributeValues={":e": {"S": execution}},
        ):
            for item in page["Items"]:
                record = self.get(item["approval_id"]["S"])  # the index projects keys only in the cloud
                if record is not None:
                    yield record

    def pending(self) -> list[ApprovalRecord]:
        """All pending approvals (a scan: used by the local CLI and the sweeper, not per request)."""
        paginator = client("dynamodb").get_paginator("scan")
        found: list[ApprovalRecord] = []
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="#s = :p",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": {"S": "PENDING"}},
        ):
            found.extend(_from_item(item) for item in page["Items"])
        return sorted(found, key=lambda r: r.created_at)

    def transition(
        self,
        approval_id: str,
        to: ApprovalStatus,
        *,
        expected: ApprovalStatus = "PENDING",
        **fields: str | None,
    ) -> bool:
        """``expected`` (PENDING) → ``to`` atomically; False when the status was something else."""
        names = {"#s": "status"}
        values: dict[str, Any] = {":p": {"S": expected}, ":to": {"S": to}}
        sets = ["#s = :to"]
        for index, (name, value) in enumerate(fields.items()):
            if value is None:
                continue
            names[f"#f{index}"] = name
            values[f":v{index}"] = {"S": value}
            sets.append(f"#f{index} = :v{index}")
        try:
            client("dynamodb").update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#s = :p",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"].get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _to_item(record: ApprovalRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    item: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key == "ttl":
            item[key] = {"N": str(value)}
        elif key == "draft":
            item[key] = {"S": json.dumps(value)}
        else:
            item[key] = {"S": str(value)}
    return item


def _from_item(item: dict[str, Any]) -> ApprovalRecord:
    data: dict[str, Any] = {}
    for key, value in item.items():
        if "N" in value:
            data[key] = int(value["N"])
        elif key == "draft":
            data[key] = json.loads(value["S"])
        else:
            data[key] = value["S"]
    return ApprovalRecord.model_validate(data)


def _token_context(record: ApprovalRecord) -> dict[str, str]:
    # Binds the ciphertext to its record: a token sealed for one approval cannot be replayed on another.
    return {"approval_id": record.approval_id, "execution": record.execution}


class ApprovalService:
    """Creates approvals for waiting tasks and turns decisions into ``SendTask*`` calls."""

    def __init__(self, config: StepwiseSettings) -> None:
        self._config = config
        self.store = ApprovalStore(config.approvals_table)
        self._vault = TokenVault(config.approvals_key_alias)

    def _secret(self) -> SecretStr:
        """The link-signing key: from the environment locally, from Secrets Manager in the cloud."""
        secret = self._config.approval_signing_secret
        if secret is None and self._config.approval_signing_secret_arn:
            from aws_lambda_powertools.utilities.parameters import get_secret

            try:
                secret = SecretStr(str(get_secret(self._config.approval_signing_secret_arn, max_age=300)))
            except Exception as exc:
                raise TransientIntegrationError(f"approval signing secret: {type(exc).__name__}") from exc
        if secret is None or not secret.get_secret_value():
            raise PermanentIntegrationError("approval signing secret is not configured")
        return secret

    def link(self, record: ApprovalRecord) -> str:
        signature = sign(record.approval_id, record.approver, record.expires_at, self._secret())
        base = self._config.approval_link_base_url.rstrip("/")
        return f"{base}/approvals/{record.approval_id}?sig={signature}"

    def create(
        self,
        *,
        execution: str,
        workflow: str,
        state: str,
        approver: str,
        action: str,
        draft: Draft,
        task_token: SecretStr,
    ) -> ApprovalRecord:
        """Store a PENDING approval for this token; older pending ones of this state are superseded."""
        for older in self.store.for_execution(execution):
            if older.state == state and older.status == "PENDING":
                self.store.transition(older.approval_id, "SUPERSEDED")
        now = _now()
        expires = now + timedelta(seconds=self._config.approval_ttl_seconds)
        approval_id = secrets.token_urlsafe(18)
        unsealed = ApprovalRecord(
            approval_id=approval_id,
            execution=execution,
            workflow=workflow,
            state=state,
            approver=approver,
            action=action,
            draft=draft,
            created_at=_iso(now),
            expires_at=_iso(expires),
            sealed_token="-",  # noqa: S106 - replaced by the sealed token just below
            ttl=int((expires + timedelta(days=30)).timestamp()),
        )
        record = unsealed.model_copy(
            update={"sealed_token": self._vault.seal(task_token, _token_context(unsealed))}
        )
        self.store.put_new(record)
        return record

    def get_verified(self, approval_id: str, signature: str) -> ApprovalRecord:
        """The record behind a link, or the reason the link is not valid (no side effect)."""
        record = self.store.get(approval_id)
        if record is None:
            raise ApprovalNotFound(f"approval {approval_id} not found")
        if not verify(record, signature, self._secret()):
            raise BadSignature("the approval link's signature is not valid")
        if _now() >= _parse_iso(record.expires_at):
            raise LinkExpired("the approval link has expired")
        return record

    def decide(
        self, approval_id: str, signature: str, decision: Decision, files: FileStore
    ) -> ApprovalRecord:
        """Consume the approval once, record who decided and the edit diff, then resume the run."""
        record = self.get_verified(approval_id, signature)
        if record.status != "PENDING":
            raise AlreadyDecided(f"approval {approval_id} is already {record.status.lower()}")
        diff, edited_draft = None, None
        if decision.decision == "approve" and (decision.edited_body or decision.edited_subject):
            original_body = files.get_text(record.draft.body_key)
            edited_body = decision.edited_body or original_body
            # Unique per attempt: a concurrent edit that loses the race cannot overwrite the winner's text.
            key = f"drafts/{record.execution}/approved-{approval_id}-{secrets.token_hex(4)}.txt"
            files.put_text(key, edited_body)
            edited_draft = Draft(
                subject=decision.edited_subject or record.draft.subject,
                body_key=key,
                body_sha256=sha256_text(edited_body),
            )
            diff = "".join(
                difflib.unified_diff(
                    [f"Subject: {record.draft.subject}\n", *original_body.splitlines(keepends=True)],
                    [f"Subject: {edited_draft.subject}\n", *edited_body.splitlines(keepends=True)],
                    fromfile="draft",
                    tofile="approved",
                )
            )
        to: ApprovalStatus = "APPROVED" if decision.decision == "approve" else "REJECTED"
        decided_at = _iso(_now())
        if not self.store.transition(
            approval_id,
            to,
            decided_by=record.approver,
            decided_at=decided_at,
            comment=decision.comment,
            edit_diff=diff,
        ):
            raise AlreadyDecided(f"approval {approval_id} was decided concurrently")
        try:
            self._deliver(record, to, decision, edited_draft)
        except AlreadyDecided:
            # The task is gone (timed out, run ended): the decision reached nobody.
            self.store.transition(approval_id, "EXPIRED", expected=to)
            raise
        except Exception:
            # KMS or Step Functions failed: give the decision back so the approver can retry.
            self.store.transition(approval_id, "PENDING", expected=to)
            raise
        updated = self.store.get(approval_id)
        assert updated is not None
        return updated

    def _deliver(
        self, record: ApprovalRecord, to: ApprovalStatus, decision: Decision, edited_draft: Draft | None
    ) -> None:
        approval_id = record.approval_id
        token = self._vault.open(record.sealed_token, _token_context(record))
        sfn = client("stepfunctions")
        try:
            if to == "APPROVED":
                draft = edited_draft or record.draft
                output = {
                    "approval_id": approval_id,
                    "decision": "approve",
                    "approver": record.approver,
                    "comment": decision.comment,
                    "edited": edited_draft is not None,
                    "draft": draft.model_dump(mode="json"),
                }
                sfn.send_task_success(taskToken=token.get_secret_value(), output=json.dumps(output))
            else:
                # Step Functions keeps Error; some runtimes drop Cause, so the comment lives in the record.
                sfn.send_task_failure(
                    taskToken=token.get_secret_value(),
                    error="ApprovalRejected",
                    cause=(decision.comment or "")[:256],
                )
        except ClientError as exc:
            if exc.response["Error"].get("Code") in {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}:
                raise AlreadyDecided(f"approval {approval_id}: the run is no longer waiting") from exc
            raise

    def close_for_execution(self, execution: str, to: ApprovalStatus) -> list[str]:
        """Mark every still-pending approval of a run ``to`` (EXPIRED/CANCELLED); their links die."""
        closed = []
        for record in self.store.for_execution(execution):
            if record.status == "PENDING" and self.store.transition(record.approval_id, to):
                closed.append(record.approval_id)
        return closed
