"""Models of the referral flow: the execution input and what each step adds to the state.

The state is the run's checkpoint: each step writes its result under its own key (``ResultPath``)
and later steps (and compensations) read what they need from it. Recipients, amounts and ids come
from the CRM and the input, never from model text; large text (drafts) lives in file storage and
the state carries its key and sha256.
"""

from __future__ import annotations

import hashlib
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
from functions.shared.ports.crm import ContactStatus, normalise_email

#: A reward above this amount (in cents) waits for the rewards approver; the ASL Choice
#: ``RewardRoute`` uses the same number (``tests/workflows/test_referral.py`` checks they agree).
REWARD_APPROVAL_THRESHOLD_CENTS = 10_000
MAX_REWARD_CENTS = 100_000


def dollars(cents: int) -> str:
    """``15000`` → ``"$150.00"``."""
    return f"${cents // 100:,}.{cents % 100:02d}"


class ReferralRequest(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referrer_contact_id: BusinessId
    referred_name: Annotated[SingleLine, StringConstraints(max_length=120)]
    referred_email: EmailAddress
    referred_company: Annotated[SingleLine, StringConstraints(max_length=120)]
    note: Annotated[FreeText, StringConstraints(max_length=1000)] | None = None
    reward_cents: int = Field(ge=0, le=MAX_REWARD_CENTS)
    rewards_approver: EmailAddress | None = None  # None: the approver directory's default
    dormant_after_days: int = Field(default=90, ge=30, le=720)


def referred_contact_id(email: str) -> str:
    """The CRM id a referred person gets: derived from the normalised email, so a retried (or
    re-submitted) run writes the same contact instead of a second one."""
    return "REF-" + hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()[:12].upper()


class Person(BaseModel):
    """A contact as the CRM (the system of record) knows it when a step reads it."""

    contact_id: str
    name: str
    email: EmailAddress
    company: str
    title: str | None = None
    status: ContactStatus
    do_not_contact: bool = False

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


class Candidate(BaseModel):
    """An existing contact that might be the referred person (sent to the entity-match model)."""

    contact_id: str
    name: str
    email: str
    company: str
    status: ContactStatus


class EntityMatch(BaseModel):
    """What the LLM answers for ``referral_entity_match`` (forced tool use, validated here).

    ``match`` is checked against the candidate ids of the call by a per-call subclass
    (``match_model``) whose JSON schema is identical, so the cached prompt prefix stays static.
    """

    model_config = ConfigDict(extra="forbid", title="EntityMatch")

    match: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description='The contact_id of the candidate who is the same person, or "none"'
    )
    confidence: Literal["high", "medium", "low"] = Field(description="How sure you are of the answer")
    reasons: Annotated[str, StringConstraints(min_length=10, max_length=600)] = Field(
        description="Which facts (name, company, email domain) support the answer"
    )


def match_model(allowed: frozenset[str]) -> type[EntityMatch]:
    """``EntityMatch`` that only accepts one of ``allowed`` (the candidate ids) or ``"none"``."""
    choices = [*sorted(allowed), "none"]

    class BoundEntityMatch(EntityMatch):
        __doc__ = EntityMatch.__doc__  # the schema's description: identical, so the prefix stays cached
        model_config = ConfigDict(extra="forbid", title="EntityMatch")

        @field_validator("match")
        @classmethod
        def _one_of_the_candidates(cls, value: str) -> str:
            if value not in choices:
                raise ValueError(f"must be one of {choices}; answer with a candidate's contact_id or none")
            return value

    return BoundEntityMatch


class Match(BaseModel):
    """``$.match``: the deduplication decision (made by code) and its evidence."""

    decision: Literal["new", "duplicate"]
    method: Literal["email", "entity_match", "no_candidates"]
    new_contact_id: str  # the id CreateReferredContact writes (and the rollback undoes)
    matched_contact_id: str | None = None
    matched_status: ContactStatus | None = None
    candidates: list[str] = Field(default_factory=list)
    confidence: Literal["high", "medium", "low"] | None = None
    reasons: str
    revived: bool = False  # the email belongs to a contact an earlier failed run rolled back
    #: "new" without a sure answer (a named candidate below the bar, an unsure "none", or "none"
    #: while a candidate shares the name): RewardRoute asks the rewards approver before any reward.
    needs_review: bool = False
    review_reason: str | None = None
    llm: dict[str, Any] | None = None


class ReferredContact(BaseModel):
    """``$.referred``: the contact this run created for the referred person."""

    contact_id: str
    name: str
    email: EmailAddress
    company: str
    created: bool  # False when a retried invocation found its own earlier write


class RollbackResult(BaseModel):
    """``$.rollback``: what the compensation of CreateReferredContact did."""

    contact_id: str
    rolled_back: bool
    detail: str


class SentEmailRef(BaseModel):
    """Proof of one email this run sent (``$.thank_you``, ``$.reengagement_sent``)."""

    message_id: str
    to: EmailAddress
    subject: str
    body_sha256: Sha256Hex
    sent_at: str


class DraftRef(BaseModel):
    """A draft in file storage, referenced by key and sha256 (``$.draft``, approvals' drafts)."""

    subject: str
    body_key: str
    body_sha256: Sha256Hex
    llm: dict[str, Any] | None = None


class ApprovalDecision(BaseModel):
    """The output the approvals service sends with ``SendTaskSuccess``."""

    approval_id: str
    decision: Literal["approve"]
    approver: EmailAddress
    comment: str | None = None
    edited: bool = False
    draft: DraftRef


class ApprovalRequested(BaseModel):
    approval_id: str
    expires_at: str


class CreditRef(BaseModel):
    """``$.credit``: the one billing credit this run granted."""

    credit_id: str
    client_id: str
    amount_cents: int
    granted_at: str
    approved_by: str | None = None


class Dormant(BaseModel):
    """``$.dormant``: the first dormant client of the referrer's company, if any."""

    found: bool
    contact: Person | None = None
    last_activity_at: str | None = None
    days_inactive: int | None = None
    reason: str | None = None  # "status dormant" | "no activity for N days"
    considered: int = 0  # how many clients of the company were checked (a count: never their ids)


_PLACEHOLDER_MARKERS = ("{{", "}}", "[first name]", "[name]", "[company]", "<insert", "lorem ipsum")


class ReengagementDraft(BaseModel):
    """What the LLM answers for ``referral_reengagement_email``; template leftovers are refused."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[SingleLine, StringConstraints(max_length=120)] = Field(
        description="Email subject line"
    )
    body: Annotated[str, StringConstraints(min_length=40, max_length=3000)] = Field(
        description="Plain-text email body, greeting to sign-off, no placeholders"
    )

    @field_validator("body")
    @classmethod
    def _no_placeholders(cls, body: str) -> str:
        return reject_placeholders(body, _PLACEHOLDER_MARKERS)


OutcomeStatus = Literal[
    "duplicate", "reward_rejected", "rewarded", "reengaged", "reengagement_rejected", "failed"
]


class Outcome(BaseModel):
    """``$.outcome``: the run's final output. ``status`` says which designed end it reached."""

    status: OutcomeStatus
    referrer_contact_id: str
    activity_id: str
    detail: str
    referred_contact_id: str | None = None
    credit_id: str | None = None
    reengaged_contact_id: str | None = None
    message_id: str | None = None
    approved_by: str | None = None
