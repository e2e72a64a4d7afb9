"""Models of the no-show reply flow: the execution input and what each step adds to the state.

The reply arrives from an inbound-email parser or a confirmation link. Only ``event_id`` and the
sender's address are trusted as lookup keys: the event, its contact and the contact's address come
from the calendar and the CRM (the systems of record), and the reply itself is one of three values:
given by the caller (a confirmation link knows it), or read from the client's words by Claude
(``classify_reply``), whose answer is checked against the same three values before anything changes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from functions.shared.models import BusinessId, EmailAddress, FreeText
from functions.shared.ports.calendar import EventStatus

ReplyKind = Literal["confirm", "cancel", "reschedule"]
#: The calendar statuses a reply can set.
AppliedStatus = Literal["confirmed", "cancelled", "rescheduled"]

#: The calendar status each reply sets (decided by code, never by free text).
TARGET_STATUS: dict[ReplyKind, AppliedStatus] = {
    "confirm": "confirmed",
    "cancel": "cancelled",
    "reschedule": "rescheduled",
}


class ReplyIntent(BaseModel):
    """What Claude must return for a free-text reply (the tool's input schema)."""

    model_config = ConfigDict(extra="forbid")

    intent: ReplyKind | Literal["unclear"] = Field(
        description="confirm / cancel / reschedule, or unclear when the message does not say which"
    )
    confidence: float = Field(ge=0, le=1, description="How sure the reading is, 0..1")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="One sentence quoting the words that decided it"
    )


class ReplyClassification(BaseModel):
    """``classification``: the model's reading, kept with the run for the audit trail."""

    model_config = ConfigDict(frozen=True)

    intent: ReplyKind
    confidence: float
    reason: str


class NoShowReply(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike).

    There is no way to pass a classification in: a reply kind comes from the caller (``reply``) or
    from ClassifyReply, and the CRM activity records which.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: BusinessId = Field(description="The appointment the confirmation request was about")
    from_email: EmailAddress = Field(description="Who replied (must be the contact's CRM address)")
    reply: ReplyKind | None = Field(
        default=None, description="What the client answered; without it Claude reads `message`"
    )
    message: Annotated[FreeText, StringConstraints(max_length=500)] | None = Field(
        default=None, description="The client's own words, if any (data, never instructions)"
    )

    @model_validator(mode="after")
    def _reply_or_message(self) -> NoShowReply:
        if self.reply is None and self.message is None:
            raise ValueError("give `reply` (confirm, cancel or reschedule) or the client's `message`")
        return self


class ValidatedReply(BaseModel):
    """``$.event``: the appointment as the calendar knew it when the reply was checked."""

    event_id: str
    contact_id: str
    status: EventStatus = Field(description="The status validate_reply saw: the compensation restores it")
    confirmed_at: str | None = None


class ReplyState(BaseModel):
    """What the steps after ValidateReply read: the input, ``$.event`` and maybe ``$.classification``."""

    model_config = ConfigDict(extra="ignore")

    event_id: str
    reply: ReplyKind | None = None
    message: str | None = None
    event: ValidatedReply
    classification: ReplyClassification | None = None

    @property
    def kind(self) -> ReplyKind:
        """The caller's reply kind, else the one ClassifyReply accepted (the ASL guarantees one)."""
        if self.reply is not None:
            return self.reply
        if self.classification is not None:
            return self.classification.intent
        raise ValueError(f"reply to event {self.event_id} has no kind")

    @property
    def target_status(self) -> AppliedStatus:
        return TARGET_STATUS[self.kind]

    def source_details(self) -> dict[str, str | float | None]:
        """How the kind was decided, for the CRM activity (a link, or Claude with its confidence)."""
        if self.reply is not None or self.classification is None:
            return {"source": "reply_link"}
        return {
            "source": "llm_classification",
            "confidence": self.classification.confidence,
            "llm_reason": self.classification.reason,
        }


class ReplyStatusChange(BaseModel):
    """``$.calendar_status``: the status this run set, and the one to restore on compensation."""

    event_id: str
    previous_status: EventStatus
    status: EventStatus
    changed: bool
    confirmed_at: str | None = None


class ReplyOutcome(BaseModel):
    """``$.outcome``: the run's final output. ``status`` says which designed end it reached."""

    status: AppliedStatus | Literal["failed"]
    event_id: str
    contact_id: str
    reply: ReplyKind
    detail: str
    activity_id: str = "-"


class ReplyNeedsHuman(BaseModel):
    """The output of a run whose reply a person must read (``status`` = ``needs_human``)."""

    status: Literal["needs_human"] = "needs_human"
    event_id: str
    contact_id: str
    detail: str
    activity_id: str = "-"
