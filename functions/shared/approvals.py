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
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, SecretStr

from functions.registry import ApprovalSla
from functions.shared import link_keys
from functions.shared.approvers import ApproverNotAllowed, workflow_approvers
from functions.shared.aws import client
from functions.shared.config import StepwiseSettings
from functions.shared.errors import PermanentIntegrationError, TransientIntegrationError
from functions.shared.link_keys import KeyRing, LinkKeys
from functions.shared.models import EmailAddress
from functions.shared.observability import logger
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore, sha256_text
from functions.shared.requester import current_requester, is_requester

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
    # The SLA ladder (set once each by the sweeper).
    reminded_at: str | None = None
    escalated_to: EmailAddress | None = None
    escalated_at: str | None = None
    #: The owner of the API client that started the run (None: not started through the API), so that
    #: the sweeper's escalation, too, never goes to the requester.
    requested_by: EmailAddress | None = None
    ttl: int

    def approvers(self) -> list[str]:
        """Who may decide: the approver, and the escalation approver once escalated."""
        return [self.approver] + ([self.escalated_to] if self.escalated_to else [])

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


def _ring(secret: SecretStr | KeyRing) -> KeyRing:
    return secret if isinstance(secret, KeyRing) else link_keys.parse_ring(secret.get_secret_value())


def sign(approval_id: str, approver: str, expires_at: str, secret: SecretStr | KeyRing) -> str:
    """The link signature (``functions/shared/link_keys.py``): ``v1.<kid>.<mac>``, current key."""
    return link_keys.sign(_ring(secret), approval_id, approver, expires_at)


def verify(record: ApprovalRecord, signature: str, secret: SecretStr | KeyRing) -> bool:
    return signer(record, signature, secret) is not None


def signer(record: ApprovalRecord, signature: str, secret: SecretStr | KeyRing) -> str | None:
    """The approver whose link carries ``signature`` (constant-time comparisons), or None."""
    return link_keys.signer(
        _ring(secret), signature, record.approval_id, record.approvers(), record.expires_at
    )


def approval_email(record: ApprovalRecord, *, to: str, link: str, body: str, kind: str) -> OutgoingEmail:
    """The email that carries an approval link (request, reminder, escalation): never the token."""
    opening = {
        "approval_request": "Your approval is needed",
        "approval_reminder": "Reminder: your approval is still needed",
        "approval_escalation": f"Escalated to you: {record.approver} has not decided yet",
    }[kind]
    prefix = "Reminder: " if kind == "approval_reminder" else ""
    return OutgoingEmail(
        to=to,
        subject=f"{prefix}Approval needed: {record.draft.subject}"[:200],
        body_text=(
            f"{opening}.\n\n{record.action}.\n\n"
            "Open the link to review, edit, approve or reject; opening it changes nothing.\n"
            f"{link}\n\nThe link expires at {record.expires_at}.\n\n"
            f"--- Subject ---\n{record.draft.subject}\n\n--- Body ---\n{body}\n"
        ),
        tags={"kind": kind, "workflow": record.workflow},
    )


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

    def mark(self, approval_id: str, **fields: str) -> bool:
        """Set fields once on a PENDING record (the first field must not be set yet); False otherwise."""
        names = {"#s": "status"} | {f"#f{i}": name for i, name in enumerate(fields)}
        values: dict[str, Any] = {":p": {"S": "PENDING"}} | {
            f":v{i}": {"S": v} for i, v in enumerate(fields.values())
        }
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        try:
            client("dynamodb").update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression=f"SET {sets}",
                ConditionExpression="#s = :p AND attribute_not_exists(#f0)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"].get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def transition(
        self,
        approval_id: str,
        to: ApprovalStatus,
        *,
        expected: ApprovalStatus = "PENDING",
        **fields: str | None,
    ) -> ApprovalRecord | None:
        """``expected`` (PENDING) → ``to`` atomically: the record as it is now, None when the status
        was something else (the update returns it, so a caller needs no second read)."""
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
            updated = client("dynamodb").update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#s = :p",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"].get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return _from_item(updated["Attributes"])


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


def _read_secret(arn: str, force: bool) -> str:
    from aws_lambda_powertools.utilities.parameters import get_secret

    try:
        # AWSCURRENT named explicitly: the default, said so (moto, too, then reads the rotated version).
        value = str(get_secret(arn, max_age=300, force_fetch=force, VersionStage="AWSCURRENT"))
    except Exception as exc:
        raise TransientIntegrationError(f"approval signing secret: {type(exc).__name__}") from exc
    if not value.strip():
        raise PermanentIntegrationError("approval signing secret is not configured")
    return value


def _token_context(record: ApprovalRecord) -> dict[str, str]:
    # Binds the ciphertext to its record: a token sealed for one approval cannot be replayed on another.
    return {"approval_id": record.approval_id, "execution": record.execution}


class ApprovalService:
    """Creates approvals for waiting tasks and turns decisions into ``SendTask*`` calls."""

    def __init__(self, config: StepwiseSettings) -> None:
        self._config = config
        self.store = ApprovalStore(config.approvals_table)
        self._vault = TokenVault(config.approvals_key_alias)

    def _keys(self) -> LinkKeys:
        """The link-signing key ring: from the environment locally, from Secrets Manager in the cloud
        (cached 5 minutes, read again once when a link names a key the cache does not hold)."""
        local = self._config.approval_signing_secret
        arn = self._config.approval_signing_secret_arn
        if local is None and arn:
            return LinkKeys(arn, lambda force: _read_secret(arn, force))
        if local is None or not local.get_secret_value():
            raise PermanentIntegrationError("approval signing secret is not configured")
        return LinkKeys("local", lambda _force: local.get_secret_value())

    def link(self, record: ApprovalRecord, approver: str | None = None) -> str:
        """The signed link for ``approver`` (default: the record's approver), with the current key."""
        signature = self._keys().sign(record.approval_id, approver or record.approver, record.expires_at)
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
        approver_is_client: bool = False,
        amount_cents: int | None = None,
    ) -> ApprovalRecord:
        """Store a PENDING approval for this token; older pending ones of this state are superseded.

        Defence in depth: whatever reached this step, a staff approver must be one the stage's approver
        directory allows for this workflow (:class:`ApproverNotAllowed`, a ``BusinessRuleError``), and
        not the owner of the client that started the run (``requester.current_requester``).
        ``approver_is_client``: the approver is the client as the CRM (the system of record) knows
        them, whom no directory lists (case_study's answers and client review). ``amount_cents``:
        the money this approval moves; the approver must then be in that amount's tier.
        """
        if not approver_is_client and not workflow_approvers(self._config, workflow).allows(
            approver, amount_cents=amount_cents
        ):
            at = f" at {amount_cents} cents" if amount_cents is not None else ""
            raise ApproverNotAllowed(
                f"{approver} is not an approver the directory allows for {workflow}{at}; nothing was sent"
            )
        if not approver_is_client and is_requester(current_requester.get(), approver):
            raise ApproverNotAllowed(f"{approver} started this run and cannot approve it; nothing was sent")
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
            requested_by=current_requester.get(),
            ttl=int((expires + timedelta(days=30)).timestamp()),
        )
        record = unsealed.model_copy(
            update={"sealed_token": self._vault.seal(task_token, _token_context(unsealed))}
        )
        self.store.put_new(record)
        return record

    def get_verified(self, approval_id: str, signature: str) -> ApprovalRecord:
        """The record behind a link, or the reason the link is not valid (no side effect)."""
        return self.authenticate(approval_id, signature)[0]

    def authenticate(self, approval_id: str, signature: str) -> tuple[ApprovalRecord, str]:
        """The record and the approver whose link this is; no side effect."""
        record = self.store.get(approval_id)
        if record is None:
            raise ApprovalNotFound(f"approval {approval_id} not found")
        approver = self._keys().signer(signature, record.approval_id, record.approvers(), record.expires_at)
        if approver is None:
            raise BadSignature("the approval link's signature is not valid")
        if _now() >= _parse_iso(record.expires_at):
            raise LinkExpired("the approval link has expired")
        return record, approver

    def decide(
        self, approval_id: str, signature: str, decision: Decision, files: FileStore
    ) -> ApprovalRecord:
        """Consume the approval once, record who decided and the edit diff, then resume the run."""
        record, approver = self.authenticate(approval_id, signature)
        if record.status != "PENDING":
            raise AlreadyDecided(f"approval {approval_id} is already {record.status.lower()}")
        diff, edited_draft = None, None
        original_body = (
            files.get_text(record.draft.body_key)
            if decision.decision == "approve" and decision.edited_body
            else None
        )
        changed_body = decision.edited_body is not None and decision.edited_body != original_body
        changed_subject = (
            decision.edited_subject is not None and decision.edited_subject != record.draft.subject
        )
        # "Edits" that change nothing are a plain approval: one answer to "was it edited?" everywhere.
        if decision.decision == "approve" and (changed_body or changed_subject):
            original_body = (
                original_body if original_body is not None else files.get_text(record.draft.body_key)
            )
            edited_body = decision.edited_body if changed_body and decision.edited_body else original_body
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
        updated = self.store.transition(
            approval_id,
            to,
            decided_by=approver,
            decided_at=decided_at,
            comment=decision.comment,
            edit_diff=diff,
        )
        if updated is None:
            raise AlreadyDecided(f"approval {approval_id} was decided concurrently")
        try:
            self._deliver(record, to, decision, edited_draft, approver)
        except AlreadyDecided:
            # The task is gone (timed out, run ended): the decision reached nobody.
            self.store.transition(approval_id, "EXPIRED", expected=to)
            raise
        except Exception:
            # KMS or Step Functions failed: give the decision back so the approver can retry.
            self.store.transition(approval_id, "PENDING", expected=to)
            raise
        return updated  # delivering changes the run, not the record

    def _deliver(
        self,
        record: ApprovalRecord,
        to: ApprovalStatus,
        decision: Decision,
        edited_draft: Draft | None,
        approver: str,
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
                    "approver": approver,
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
            if record.status == "PENDING" and self.store.transition(record.approval_id, to) is not None:
                closed.append(record.approval_id)
        return closed

    # --- the SLA ladder (run by the scheduled sweeper) -------------------------------------------
    def sweep(
        self,
        now: datetime,
        sla_of: Callable[[str], ApprovalSla],
        email: EmailPort,
        files: FileStore,
    ) -> SweepReport:
        """Remind, escalate or expire every pending approval that is due; idempotent per step."""
        report = SweepReport()
        for record in self.store.pending():
            sla = sla_of(record.workflow)
            age = (now - _parse_iso(record.created_at)).total_seconds()
            if now >= _parse_iso(record.expires_at):
                if self.expire(record):
                    report.expired.append(record.approval_id)
                continue
            if age >= sla.escalate_after_s and record.escalated_to is None:
                done, bucket = self._escalate(record, now, email, files), report.escalated
            elif age >= sla.remind_after_s and record.reminded_at is None:
                done, bucket = self._remind(record, now, email, files), report.reminded
            else:
                continue
            if done:
                bucket.append(record.approval_id)
        return report

    def _remind(self, record: ApprovalRecord, now: datetime, email: EmailPort, files: FileStore) -> bool:
        if not self.store.mark(record.approval_id, reminded_at=_iso(now)):
            return False
        body = files.get_text(record.draft.body_key)
        email.send(
            approval_email(
                record, to=record.approver, link=self.link(record), body=body, kind="approval_reminder"
            )
        )
        return True

    def _escalate(self, record: ApprovalRecord, now: datetime, email: EmailPort, files: FileStore) -> bool:
        # The directory's chain for this approver, then the stage's one escalation address: the first
        # of them who is not the requester (a requester never approves their own run, escalated or not).
        chain = workflow_approvers(self._config, record.workflow).escalation(record.approver)
        candidates = [*chain, self._config.escalation_approver]
        to = next((a for a in candidates if not is_requester(record.requested_by, a)), None)
        if to is None:
            logger.warning(
                "approval not escalated: every escalation approver started the run",
                approval_id=record.approval_id,
            )
            return False
        if not self.store.mark(record.approval_id, escalated_at=_iso(now), escalated_to=to):
            return False
        escalated = record.model_copy(update={"escalated_to": to, "escalated_at": _iso(now)})
        body = files.get_text(record.draft.body_key)
        email.send(
            approval_email(
                escalated, to=to, link=self.link(escalated, to), body=body, kind="approval_escalation"
            )
        )
        return True

    def expire(self, record: ApprovalRecord) -> bool:
        """Nobody decided in time: the default decision (reject) resumes the run as ``ApprovalExpired``."""
        if (
            self.store.transition(record.approval_id, "EXPIRED", decided_by="sla", decided_at=_iso(_now()))
            is None
        ):
            return False
        token = self._vault.open(record.sealed_token, _token_context(record))
        try:
            client("stepfunctions").send_task_failure(
                taskToken=token.get_secret_value(),
                error="ApprovalExpired",
                cause="no decision before the deadline",
            )
        except ClientError as exc:
            if exc.response["Error"].get("Code") not in {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}:
                self.store.transition(record.approval_id, "PENDING", expected="EXPIRED")
                raise
        return True


@dataclass
class SweepReport:
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
