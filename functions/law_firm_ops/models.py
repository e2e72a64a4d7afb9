"""Models of the law-firm operations flow: the intake request and what each step adds to the state.

The state is the run's checkpoint. ``$.identity`` (written first) holds the client id and the CRM
status the client had before the run, so every compensation can work from it alone, even when the
step it undoes failed after its write landed. Ids the run creates are business identities, never
the execution name (``functions/shared/business_keys.py``): the matter is the client + the matter
description, its retainer invoice belongs to the matter, a time entry to the attorney time it bills.
So a retried step, a redrive and a fresh run of the same intake all write the same records, and a
compensation finds them without reading the failed step's output. A compensation undoes only what
its own execution created (the deal's ``opened_by``, the invoice's ``issued_by``): a rerun that fails
never archives or voids what an earlier, successful run of the same matter set up. Large text
(letters, the proposed time-entry table) lives in file storage; the state carries key + sha256.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from functions.shared.business_keys import text_identity
from functions.shared.models import (
    BusinessId,
    EmailAddress,
    FreeText,
    Sha256Hex,
    SingleLine,
    reject_placeholders,
)
from functions.shared.ports.crm import ContactStatus

MatterType = Literal["employment", "contract", "ip", "litigation", "real_estate", "other"]
MATTER_TYPES: tuple[str, ...] = ("employment", "contract", "ip", "litigation", "real_estate", "other")
PartyRole = Literal["client", "opposing_party", "co_party", "witness", "other"]
#: Roles that put a party on the other side of the matter from the prospective client.
ADVERSE_ROLES: frozenset[str] = frozenset({"opposing_party"})
#: The CRM relation of a client to the other side of its matter (``CrmPort.relate_party``).
ADVERSE = "adverse"
#: The stage of a matter whose onboarding did not complete.
ARCHIVED = "archived"
#: The matter deal's metric naming the execution that opened it (only its compensation archives it).
OPENED_BY = "opened_by"

MAX_PARTIES = 8
MAX_PROPOSED_ENTRIES = 8
#: An e-mail is billed in the firm's smallest increments; the cap keeps a proposal honest.
MAX_EMAIL_MINUTES = 30
MIN_ENTRY_MINUTES = 6


def _stable_suffix(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10].upper()


def derived_client_id(email: str) -> str:
    """The client id of a person the CRM does not know yet: a pure function of the intake email.

    The firm's scheduling form tags consultations with the same id before anyone is a client, so
    the calendar events of the consultation phase line up with the client this run creates.
    """
    return f"LF-C-{_stable_suffix(email.strip().lower())}"


def matter_id_for(client_id: str, matter_description: str) -> str:
    """The matter: this client's engagement for this description (the engagement letter's key too)."""
    return f"LF-M-{_stable_suffix('matter', client_id, text_identity(matter_description))}"


#: Voided retainers a matter may go through (each failed onboarding voids one) before a person looks.
MAX_RETAINER_ISSUES = 20


def retainer_invoice_id_for(matter_id: str, issue: int = 0) -> str:
    """The matter's retainer invoice; ``issue`` > 0 replaces the voided one of ``issue - 1``."""
    return f"LF-INV-{_stable_suffix('retainer', matter_id, *([str(issue)] if issue else []))}"


def time_entry_id_for(source_id: str) -> str:
    """The entry billing one piece of attorney time (its source): billed once, whichever run posts it."""
    return f"LF-TE-{_stable_suffix('time', source_id)}"


class IntakeRequest(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_name: Annotated[SingleLine, StringConstraints(max_length=120)]
    client_email: EmailAddress
    client_company: Annotated[SingleLine, StringConstraints(max_length=160)] | None = None
    matter_description: FreeText
    attorney_email: EmailAddress | None = None  # None: the approver directory's default
    partner_email: EmailAddress | None = None  # None: the approver directory's default
    hourly_rate_cents: int = Field(ge=1_000, le=500_000, description="$10 to $5,000 per hour")
    retainer_cents: int = Field(ge=1, le=50_000_000, description="up to $500,000")
    client_ref: BusinessId | None = None  # the firm's intake form id, if any (search key only)

    @model_validator(mode="after")
    def _two_people(self) -> Self:
        if self.partner_email == self.attorney_email:
            raise ValueError(
                "partner_email must differ from attorney_email: a conflict waiver needs a second person"
            )
        return self


class ClientIdentity(BaseModel):
    """``$.identity``: who the client is in the CRM, and the status to restore on compensation."""

    client_id: str
    existed: bool
    previous_status: ContactStatus | None  # None: the CRM did not know the person before this run
    name: str
    email: EmailAddress
    company: str | None = None


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)] = Field(
        description="Person or organisation as named in the description"
    )
    role: PartyRole = Field(description="The party's side in the matter, seen from the prospective client")


class MatterClassification(BaseModel):
    """What the LLM answers for ``law_firm_classify_matter`` (forced tool use, validated here)."""

    model_config = ConfigDict(extra="forbid")

    matter_type: MatterType = Field(description="The practice area the matter belongs to")
    summary: Annotated[str, StringConstraints(min_length=10, max_length=300)] = Field(
        description="One or two neutral sentences describing the matter"
    )
    parties: list[Party] = Field(
        max_length=MAX_PARTIES, description="Every person or organisation involved, with their role"
    )


class Matter(BaseModel):
    """``$.matter``: the classification the later steps read."""

    matter_type: MatterType
    summary: str
    parties: list[Party]
    llm: dict[str, Any]


class ConflictHit(BaseModel):
    contact_id: str
    name: str
    matched: str  # the party or client name that matched
    reason: str


class ConflictCheck(BaseModel):
    """``$.conflict_check``: the clear result (a conflict raises ``BusinessRuleError`` instead)."""

    status: Literal["clear"]
    checked_names: list[str]


class ClientRecord(BaseModel):
    """``$.client``: the CRM status this run set."""

    client_id: str
    previous_status: ContactStatus | None
    status: ContactStatus
    changed: bool


class MatterRecord(BaseModel):
    """``$.matter_record``: the CRM deal that represents the matter."""

    matter_id: str
    client_id: str
    stage: str
    title: str


class DraftRef(BaseModel):
    subject: str
    body_key: str
    body_sha256: Sha256Hex
    llm: dict[str, Any] | None = None


_PLACEHOLDER_MARKERS = ("{{", "}}", "[client", "[name]", "[date]", "<insert", "lorem ipsum")


class EngagementLetterDraft(BaseModel):
    """What the LLM answers for ``law_firm_engagement_letter``. Amounts are added by code, never the model."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[SingleLine, StringConstraints(max_length=120)] = Field(
        description="Email subject line"
    )
    body: Annotated[str, StringConstraints(min_length=200, max_length=2600)] = Field(
        description="Plain-text letter from greeting to signature, without any fee amounts"
    )

    @field_validator("body")
    @classmethod
    def _no_placeholders_or_amounts(cls, body: str) -> str:
        reject_placeholders(body, _PLACEHOLDER_MARKERS)
        lowered = body.lower()
        if "$" in body or "usd" in lowered:
            raise ValueError("states an amount; leave fees out, the firm appends the fee schedule itself")
        return body


class ApprovalDecision(BaseModel):
    """``$.<x>_approval``: what the approvals service sends with ``SendTaskSuccess``."""

    approval_id: str
    decision: Literal["approve"]
    approver: EmailAddress
    comment: str | None = None
    edited: bool = False
    draft: DraftRef


class SentLetterRef(BaseModel):
    """``$.letter_sent``: proof of the one engagement letter this run sent."""

    message_id: str
    to: EmailAddress
    subject: str
    body_sha256: Sha256Hex
    sent_at: str


class BillingSetup(BaseModel):
    """``$.billing``: the rate set on the matter and the retainer invoice issued."""

    client_id: str
    matter_id: str
    rate_cents: int
    invoice_id: str
    amount_cents: int
    status: str


class UnbilledItem(BaseModel):
    """Attorney work the calendar or the CRM shows and no time entry covers."""

    source_id: str  # calendar event id, or "email:<activity id>"
    kind: Literal["event", "email"]
    date: str
    title: str
    max_minutes: int  # what a proposal for it may claim at most


class Unbilled(BaseModel):
    """``$.unbilled``: the deterministic comparison the recovery proposal starts from.

    Bounded whatever the client's history: at most ``MAX_PROPOSED_ENTRIES`` items and two counts.
    The covered items are only counted: their ids are the time entries' ``source`` (or the days the
    attorney logged), which the billing system already holds, and a list of them would grow with
    every consultation the client ever had, towards Step Functions' 256 KiB state limit.
    """

    count: int
    items: list[UnbilledItem] = Field(max_length=MAX_PROPOSED_ENTRIES)
    covered_count: int = 0  # candidate items with time already logged (counted, never listed)
    left_out: int = 0  # uncovered items after the oldest MAX_PROPOSED_ENTRIES: not proposed this run


class ProposedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: Annotated[str, StringConstraints(min_length=1, max_length=120)] = Field(
        description="The source_id of exactly one item of the input; never invent one"
    )
    minutes: int = Field(
        ge=MIN_ENTRY_MINUTES,
        le=480,
        description="Billable minutes, a multiple of 6, at most the item's max_minutes",
    )
    description: Annotated[SingleLine, StringConstraints(min_length=10, max_length=160)] = Field(
        description="Time-entry narrative: what was done, for the client, in past tense"
    )


class TimeProposal(BaseModel):
    """What the LLM answers for ``law_firm_recover_time``: checked against the items in the prompt."""

    model_config = ConfigDict(extra="forbid")

    entries: list[ProposedEntry] = Field(max_length=MAX_PROPOSED_ENTRIES)


class ProposalRow(BaseModel):
    """One validated proposal: the bounds the attorney's edits are checked against."""

    source_id: str
    date: str
    minutes: int
    max_minutes: int
    description: str


class ProposedTime(BaseModel):
    """``$.proposal``: validated proposals plus the table the attorney reviews."""

    count: int
    total_minutes: int
    rows: list[ProposalRow]
    table: DraftRef


class ApprovedEntry(BaseModel):
    entry_id: str
    source_id: str
    date: str
    minutes: int
    description: str


class ApprovedEntries(BaseModel):
    """``$.entries``: the attorney-approved table, parsed strictly."""

    count: int
    total_minutes: int
    entries: list[ApprovedEntry]
    edited: bool


class PostedEntries(BaseModel):
    """``$.posted``: the entries this run posted (each exactly once)."""

    entry_ids: list[str]
    total_minutes: int


class Outcome(BaseModel):
    """``$.outcome``: the run's final output. ``status`` says which designed end it reached."""

    status: Literal["onboarded", "conflict", "rejected", "expired", "failed"]
    client_email: str
    client_id: str | None = None
    matter_id: str | None = None
    activity_id: str | None = None
    detail: str
    invoice_id: str | None = None
    letter_message_id: str | None = None
    recovered_entries: int | None = None
    recovered_minutes: int | None = None
