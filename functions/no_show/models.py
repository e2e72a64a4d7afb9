"""Models of the no-show flow: the execution input and what each step adds to the state.

The top-level state holds the day's signals and the routed lists; each ``Map`` state iterates over
small items (event id, contact id, score, route, recommended action) so a day with many
appointments stays far below the 256 KiB payload limit. Free text (the calendar notes, the LLM's
reasons, the manager's task text) lives in the calendar or in file storage, referenced by key +
sha256.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.shared.models import EmailAddress, Sha256Hex

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


class Signals(BaseModel):
    """``$.signals``: every open appointment of the day, in start order."""

    day: str
    owner: str
    appointments: list[AppointmentSignals]
    skipped: int = Field(ge=0, description="appointments of the day that are cancelled or already moved")


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


class MapItem(BaseModel):
    """One appointment of a routed list in ``$.scored``: what a Map iteration receives (kept small)."""

    event_id: str
    contact_id: str
    status: OpenStatus
    score: float = Field(ge=0.0, le=1.0)
    route: Route
    recommended_action: RecommendedAction


class ReportRef(BaseModel):
    """The full scoring report (signals, points, LLM reasons) in file storage."""

    key: str
    sha256: Sha256Hex


class Scored(BaseModel):
    """``$.scored``: the appointments routed by code, one list per path, and the report reference.

    Routing here, once per run, instead of a ``Choice`` at the start of every Map iteration saves a
    billed state transition per appointment: each list is the input of its own Map
    (``to_confirm`` → RequestConfirmations, ``to_escalate`` → HandleEscalations), and the
    already-confirmed appointments, which need nothing, enter no Map at all (SummarizeBatch reports
    them). Each list keeps the start order.
    """

    to_confirm: list[MapItem]
    to_escalate: list[MapItem]
    already_confirmed: list[MapItem]
    report: ReportRef
    llm: list[dict[str, Any]] = Field(default_factory=list)


class ScoreLine(BaseModel):
    """One appointment of the scoring report (file storage, read by the approval step)."""

    event_id: str
    contact_id: str
    base_probability: float
    points: dict[str, float]
    adjustment: float
    score: float
    route: Route
    recommended_action: RecommendedAction
    reason: str


class ScoringReport(BaseModel):
    day: str
    owner: str
    risk_threshold: float
    lines: list[ScoreLine]


class IterationInput(BaseModel):
    """What every step inside the Map iteration reads (the ``ItemSelector`` builds it)."""

    model_config = ConfigDict(extra="ignore")

    appointment: MapItem
    day: str
    owner: EmailAddress
    manager_email: EmailAddress
    report: ReportRef


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
    """``$.sent`` / ``$.applied.task``: proof of the one email this iteration sent."""

    message_id: str
    to: EmailAddress
    subject: str
    sent_at: str
    body_sha256: Sha256Hex | None = None


class EventStatusChange(BaseModel):
    """A calendar status this iteration set (``$.applied.calendar_status``) or restored
    (``$.calendar_status``, the compensation's result), and the one it had before."""

    event_id: str
    previous_status: OpenStatus
    status: Literal["rescheduled", "scheduled", "confirmed"]
    changed: bool


class AppliedAction(BaseModel):
    """``$.applied``: what ApplyApprovedAction did: the calendar change (``reschedule`` only) and the task."""

    calendar_status: EventStatusChange | None = None
    task: SentEmailRef


OutcomeStatus = Literal[
    "confirmation_requested",
    "already_confirmed",
    "action_applied",
    "escalation_rejected",
    "escalation_expired",
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


class BatchSummary(BaseModel):
    """The run's output: counts per outcome and every appointment's outcome."""

    status: Literal["completed"] = "completed"
    day: str
    owner: str
    appointments: int
    confirmation_requested: int
    already_confirmed: int
    escalated: int
    actions_applied: int
    rejected: int
    expired: int
    failed: int
    skipped: int
    outcomes: list[AppointmentOutcome]


def approval_key(event_id: str) -> str:
    """The approval record's ``state``: one pending approval per appointment of a run."""
    return f"RequestManagerApproval/{event_id}"
