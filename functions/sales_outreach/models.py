"""Models of the sales-outreach flow: the execution input and what each step adds to the state.

The state is the run's checkpoint: each step writes its result under its own key (``ResultPath``),
and later steps (and compensations) read what they need from it. Large text (notes, drafts)
lives in S3; the state carries its key and sha256.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from functions.shared.models import (
    BusinessId,
    EmailAddress,
    FreeText,
    Sha256Hex,
    SingleLine,
    reject_placeholders,
)
from functions.shared.ports.crm import ContactStatus


class OutreachRequest(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: BusinessId
    campaign: Annotated[SingleLine, StringConstraints(max_length=100)]
    offer: Annotated[FreeText, StringConstraints(max_length=500)]
    sender_name: Annotated[SingleLine, StringConstraints(max_length=100)]
    approver_email: EmailAddress | None = None  # None: the approver directory's default


class Lead(BaseModel):
    """The contact as the CRM (the system of record) knows it when the run starts."""

    contact_id: str
    name: str
    email: EmailAddress
    company: str
    title: str | None = None
    industry: str | None = None
    company_size: int | None = None
    status: ContactStatus
    notes_key: str | None = None


class LeadAssessment(BaseModel):
    """What the LLM answers for ``assess_lead`` (forced tool use, validated here)."""

    model_config = ConfigDict(extra="forbid")

    fit: Literal["good", "poor"] = Field(description="Is this lead a good fit for the offer?")
    fit_score: int = Field(ge=0, le=100, description="0 = no fit, 100 = ideal customer")
    persona: Annotated[str, StringConstraints(min_length=2, max_length=80)] = Field(
        description="Short buyer persona, e.g. 'VP Operations at a mid-size logistics firm'"
    )
    pain_points: list[Annotated[str, StringConstraints(min_length=3, max_length=160)]] = Field(
        min_length=1, max_length=5, description="The lead's likely problems the offer addresses"
    )
    reasons: Annotated[str, StringConstraints(min_length=10, max_length=600)] = Field(
        description="Why this fit and score, citing facts from the input"
    )


class Research(BaseModel):
    """``$.research``: the assessment plus the deterministic fit decision the Choice reads."""

    fit: Literal["good", "poor"]
    fit_score: int
    persona: str
    pain_points: list[str]
    reasons: str
    llm: dict[str, Any]


_PLACEHOLDER_MARKERS = ("{{", "}}", "[first name]", "[name]", "[company]", "<insert", "lorem ipsum")


class EmailDraft(BaseModel):
    """What the LLM answers for ``draft_email``. Rejects template leftovers so the client re-prompts."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[SingleLine, StringConstraints(max_length=120)] = Field(
        description="Email subject line"
    )
    body: Annotated[str, StringConstraints(min_length=40, max_length=3000)] = Field(
        description="Plain-text email body, greeting to signature, no placeholders"
    )

    @field_validator("body")
    @classmethod
    def _no_placeholders(cls, body: str) -> str:
        return reject_placeholders(body, _PLACEHOLDER_MARKERS)


class DraftRef(BaseModel):
    """``$.draft`` (and ``$.approval.draft``): a draft in S3, referenced by key and sha256."""

    subject: str
    body_key: str
    body_sha256: Sha256Hex
    llm: dict[str, Any] | None = None


class StatusChange(BaseModel):
    """``$.contact_status``: the CRM status this run set, and the one to restore on compensation."""

    contact_id: str
    previous_status: ContactStatus
    status: ContactStatus
    changed: bool


class ApprovalDecision(BaseModel):
    """``$.approval``: the output the approvals service sends with ``SendTaskSuccess``."""

    approval_id: str
    decision: Literal["approve"]
    approver: EmailAddress
    comment: str | None = None
    edited: bool = False
    draft: DraftRef


class SentEmailRef(BaseModel):
    """``$.sent``: proof of the one email this run sent."""

    message_id: str
    to: EmailAddress
    subject: str
    body_sha256: Sha256Hex
    sent_at: str


class Outcome(BaseModel):
    """``$.outcome``: the run's final output. ``status`` says which designed end it reached."""

    status: Literal["sent", "disqualified", "blocked", "rejected", "expired", "failed"]
    lead_id: str
    activity_id: str
    detail: str
    message_id: str | None = None
    approved_by: str | None = None
    edited: bool | None = None
