"""Models of the re-engagement sweep: the execution input, the batch files and the state.

The state carries keys and counts only. Every list that grows with the number of dormant clients
(the clients, their drafts, the digest, what was sent) is a JSON file in the files bucket under
``sweeps/<execution>/``; the state holds its prefix, the batch numbers and counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.shared.models import EmailAddress
from functions.shared.ports.crm import parse_timestamp

#: Clients per batch file: one DraftBatch / SendBatch invocation each (see draft_batch.py for the
#: arithmetic against the Lambda timeout).
BATCH_SIZE = 25
#: Most dormant clients one sweep takes (the longest silent first; the rest are counted, left for
#: the next period). 10,000 / 25 = 400 batches: the Map's item list stays a few KB.
MAX_CLIENTS = 10_000


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


class SweepRequest(BaseModel):
    """The execution input: from the schedule (EventBridge Scheduler), the API, the CLI or the console."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The sweep period, the business key of every send: an ISO week ("2026-W49"), or a timestamp
    #: (the schedule passes ``<aws.scheduler.scheduled-time>``) that stands for the week it falls in.
    period: str = Field(min_length=8, max_length=40)
    dormant_after_days: int = Field(default=90, ge=30, le=720)
    max_clients: int = Field(default=5_000, ge=1, le=MAX_CLIENTS)
    approver_email: EmailAddress | None = None  # None: the approver directory's default

    @field_validator("period")
    @classmethod
    def _week_or_timestamp(cls, value: str) -> str:
        value = value.strip()
        if _is_week(value):
            return value
        try:
            return iso_week(parse_timestamp(value))
        except ValueError:
            raise ValueError("must be an ISO week (2026-W49) or an ISO-8601 timestamp") from None


def _is_week(value: str) -> bool:
    if len(value) != 8 or value[4:6] != "-W" or not (value[:4].isdigit() and value[6:].isdigit()):
        return False
    try:
        datetime.fromisocalendar(int(value[:4]), int(value[6:]), 1)
    except ValueError:
        return False
    return True


class SweepClient(BaseModel):
    """One dormant client in a batch file (from the CRM, the system of record)."""

    contact_id: str
    name: str
    email: str
    company: str
    title: str | None = None
    days_inactive: int
    reason: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


class SweepFound(BaseModel):
    """``$.found``: where the batch files are and how many clients they hold."""

    period: str
    prefix: str  # sweeps/<execution>/ : batch files are <prefix>clients/<n>.json etc.
    total: int
    left_out: int = 0  # dormant beyond max_clients: not in this sweep
    considered: int  # clients checked against the rule
    batches: list[int] = Field(max_length=MAX_CLIENTS // BATCH_SIZE)


class BatchRef(BaseModel):
    """What a Map iteration receives: the batch number and where the sweep's files are."""

    model_config = ConfigDict(extra="ignore")

    period: str
    prefix: str
    batch: int = Field(ge=0)


class DraftedClient(BaseModel):
    """One line of a drafts file: the client, and the draft or why there is none."""

    client: SweepClient
    subject: str | None = None
    body: str | None = None
    body_sha256: str | None = None
    error: str | None = None  # the typed error name when the model failed for this client


class BatchDrafted(BaseModel):
    batch: int
    drafted: int
    failed: int


class DigestApproval(BaseModel):
    """``$.digest_approval``: what the approval service hands back on approve."""

    model_config = ConfigDict(extra="ignore")

    decision: Literal["approve"]
    approver: EmailAddress
    edited: bool = False
    comment: str | None = None
    draft: DigestDraft


class DigestDraft(BaseModel):
    subject: str
    body_key: str
    body_sha256: str


class DigestRequested(BaseModel):
    approval_id: str
    expires_at: str
    drafted: int
    failed: int
    digest_key: str


class ApprovedSet(BaseModel):
    """``$.approved``: the clients the approver let through, as a file, and the counts."""

    key: str
    approved: int
    dropped: int
    edited: bool


class BatchSent(BaseModel):
    """One SendBatch's result (also written to ``<prefix>sent/<n>.json``)."""

    batch: int
    sent: int  # sent by this execution
    already_sent: int  # sent for this period by an earlier run (the business key held)
    failed: int  # the mail system refused this client (recorded, not retried)
    skipped: int  # dropped by the approver, or not drafted


SweepStatus = Literal["sent", "no_dormant_clients", "rejected", "expired"]


class Outcome(BaseModel):
    """``$.outcome``: the run's output. ``status`` says which designed end it reached."""

    status: SweepStatus
    period: str
    detail: str
    dormant: int = 0
    drafted: int = 0
    draft_failed: int = 0
    approved: int = 0
    dropped: int = 0
    sent: int = 0
    already_sent: int = 0
    send_failed: int = 0
    batches_not_sent: int = 0
    left_out: int = 0
    report_key: str | None = None


DigestApproval.model_rebuild()
