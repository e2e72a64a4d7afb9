"""Models of the no-show flow: the execution input, the files a run writes and what the state holds.

The state holds references and counts only, never a list that grows with the day: the
appointments, the scores, the digest and every outcome live in files under the run's prefix in the
files bucket (``RunFiles``), and the Distributed Maps iterate over manifests of batch files. Free
text (the calendar notes, the LLM's reasons, the manager's digest) lives in the calendar or in
file storage, referenced by key + sha256.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.shared.models import EmailAddress, Sha256Hex
from functions.shared.ports.email import SentEmail
from functions.shared.ports.files import sha256_text

#: What the manager may be asked to approve for a high-risk appointment.
RecommendedAction = Literal["call", "reschedule", "overbook"]
#: Which list (and so which Map) an appointment goes to; decided by code in ``scoring.route_for``,
#: never by the model.
Route = Literal["confirm", "escalate", "already_confirmed"]
#: The calendar statuses an appointment the flow handles can be in.
OpenStatus = Literal["scheduled", "confirmed"]


class NoShowRequest(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date = Field(description="The day whose appointments are checked (usually tomorrow)")
    owner: EmailAddress = Field(description="The staff member whose calendar is checked")
    manager_email: EmailAddress | None = Field(
        default=None,
        description="Who approves the action for high-risk appointments (default: the approver directory's)",
    )
    risk_threshold: float = Field(
        default=0.6, ge=0.0, le=1.0, allow_inf_nan=False, description="Scores at or above it escalate"
    )


class AppointmentSignals(BaseModel):
    """The deterministic signals of one appointment, from the calendar and the CRM."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    contact_id: str
    starts_at: str
    status: OpenStatus
    past_no_shows: int = Field(ge=0)
    past_attended: int = Field(ge=0)
    lead_time_hours: float | None = Field(default=None, description="starts_at - booked_at; None if unknown")
    has_notes: bool = False

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"


class NotesReading(BaseModel):
    """What the LLM answers for ``no_show_read_notes`` (forced tool use, validated here).

    The adjustment is bounded so that the model can nudge the transparent score, never replace it.
    """

    model_config = ConfigDict(extra="forbid")

    adjustment: float = Field(
        ge=-0.2,
        le=0.2,
        allow_inf_nan=False,
        description="Change to the no-show probability implied by the notes, from -0.2 to 0.2",
    )
    recommended_action: RecommendedAction = Field(
        description="What a manager should do if this appointment is high risk"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=400)] = Field(
        description="One or two sentences citing the notes"
    )


class BatchRef(BaseModel):
    """One line of a manifest (``batches.json``, ``apply.json``): a Distributed Map item."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)
    key: str


class RunFiles(BaseModel):
    """``$.signals``: where this run's files are and how many of each there are (never the lists).

    Every file of a run lives under ``prefix`` in the files bucket (``bucket``, also what the
    Distributed Maps' ItemReader and ResultWriter read and write): the day's appointments in
    batch files, the manifest the Maps iterate over, and each batch's outcome file.
    """

    model_config = ConfigDict(extra="forbid")

    day: str
    owner: str
    bucket: str
    prefix: str
    manifest_key: str
    batches: int = Field(ge=0)
    appointments: int = Field(ge=0)
    skipped: int = Field(ge=0, description="appointments of the day that are cancelled or already moved")
    risk_threshold: float = Field(ge=0.0, le=1.0, description="scores at or above it escalate")

    def key(self, kind: str, index: int | None = None) -> str:
        """``<prefix>/<kind>/0001.json`` for a batch file, ``<prefix>/<kind>.json`` for a run file."""
        return f"{self.prefix}/{kind}/{index:04d}.json" if index is not None else f"{self.prefix}/{kind}.json"


class SignalsBatch(BaseModel):
    """A batch file of CollectSignals: at most ``BATCH_SIZE`` appointments, in start order."""

    index: int
    appointments: list[AppointmentSignals]


class BatchInput(BaseModel):
    """What a Distributed Map child's step reads (its ``ItemSelector`` builds it)."""

    model_config = ConfigDict(extra="ignore")

    batch: BatchRef
    run: RunFiles


class ScoreLine(BaseModel):
    """One appointment of a scored batch file (``<prefix>/scored/0001.json``)."""

    event_id: str
    contact_id: str
    status: OpenStatus
    base_probability: float
    points: dict[str, float]
    adjustment: float
    score: float
    route: Route
    recommended_action: RecommendedAction
    reason: str
    #: Why the notes reading is missing and the points-only score was used ("LLMRefusalError: ...").
    fallback: str | None = None
    #: The notes reading came from the score cache (no model call paid this time).
    cached: bool = False


class ScoredBatch(BaseModel):
    index: int
    risk_threshold: float
    model_calls: int = Field(default=0, ge=0, description="notes readings paid for (not from the cache)")
    lines: list[ScoreLine]


class BatchCounts(BaseModel):
    """What a batch step returns to its Distributed Map (small; the outcome file has the rest)."""

    index: int
    key: str
    appointments: int = 0
    model_calls: int = 0
    cached: int = 0
    fallbacks: int = 0
    sent: int = 0
    failed: int = 0


class DigestItem(BaseModel):
    """One high-risk appointment of the day's digest (``<prefix>/digest.json``)."""

    event_id: str
    contact_id: str
    status: OpenStatus
    score: float = Field(ge=0.0, le=1.0)
    recommended_action: RecommendedAction
    reason: str


class DigestRef(BaseModel):
    """``$.digest``: the day's high-risk appointments (a list in file storage) and the approval text."""

    items: int = Field(ge=0)
    key: str
    sha256: Sha256Hex
    body_key: str
    body_sha256: Sha256Hex


class DigestInput(BaseModel):
    """What the digest steps read: the run's files, the manager and the digest."""

    model_config = ConfigDict(extra="ignore")

    signals: RunFiles
    manager_email: EmailAddress
    digest: DigestRef


class ApplyInput(BaseModel):
    """What an ApplyApprovedActions child reads: its batch of approved digest items."""

    model_config = ConfigDict(extra="ignore")

    batch: BatchRef
    run: RunFiles
    approver: EmailAddress


class SettledDigest(BaseModel):
    """``$.settled``: what became of the digest (counts) and where the approved actions are."""

    decision: Literal["approved", "rejected", "expired"]
    approved: int = Field(ge=0)
    dropped: int = Field(ge=0)
    approver: EmailAddress
    manifest_key: str
    batches: int = Field(ge=0)
    outcomes_key: str
    task_message_id: str | None = None


class DraftRef(BaseModel):
    """A text in file storage, referenced by key and sha256 (the approval's draft)."""

    subject: str
    body_key: str
    body_sha256: Sha256Hex


class ApprovalDecision(BaseModel):
    """``$.approval``: the output the approvals service sends with ``SendTaskSuccess``."""

    approval_id: str
    decision: Literal["approve"]
    approver: EmailAddress
    comment: str | None = None
    edited: bool = False
    draft: DraftRef


class SentEmailRef(BaseModel):
    """Proof of one email a step sent (a confirmation request, the manager's task list)."""

    message_id: str
    to: EmailAddress
    subject: str
    sent_at: str
    body_sha256: Sha256Hex | None = None

    @classmethod
    def of(cls, sent: SentEmail, body: str) -> SentEmailRef:
        return cls(
            message_id=sent.message_id,
            to=sent.to,
            subject=sent.subject,
            sent_at=sent.sent_at,
            body_sha256=sha256_text(body),
        )


OutcomeStatus = Literal[
    "confirmation_requested",
    "already_confirmed",
    "action_applied",
    "escalation_rejected",
    "escalation_expired",
    "action_dropped",
    "failed",
]


class AppointmentOutcome(BaseModel):
    """``$.outcome`` of one iteration = one element of the Map's result."""

    event_id: str
    contact_id: str
    score: float
    status: OutcomeStatus
    detail: str = ""
    action: RecommendedAction | None = None
    activity_id: str | None = None
    message_id: str | None = None
    decided_by: str | None = None
    error: str | None = None


class DaySummary(BaseModel):
    """The run's output: counts per outcome and where every appointment's outcome is (file storage)."""

    status: Literal["completed"] = "completed"
    day: str
    owner: str
    appointments: int
    confirmation_requested: int
    already_confirmed: int
    escalated: int
    actions_applied: int
    dropped: int
    rejected: int
    expired: int
    failed: int
    skipped: int
    model_calls: int
    cached_scores: int
    points_only: int
    outcomes_key: str
    outcomes_sha256: Sha256Hex


def digest_approval_key(day: str) -> str:
    """The approval record's ``state``: one pending digest approval per run and day."""
    return f"RequestDigestApproval/{day}"
