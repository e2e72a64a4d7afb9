"""Models of the case-study flow: the execution input and what each step adds to the state.

The state is the run's checkpoint: each step writes its result under its own key (``ResultPath``)
and later steps (and compensations) read what they need from it. Large text (the questions, the
client's answers, the draft, the published document) lives in file storage; the state carries
its key and sha256.
"""

from __future__ import annotations

import re
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

#: Where published case studies live in the files bucket (``<prefix><slug>.md``).
PUBLISHED_PREFIX = "published/case-studies/"


class CaseStudyRequest(BaseModel):
    """The execution input (validated by the API, the CLI and the first step alike).

    ``contact_id`` names the client contact whose deal it is: the CRM port lists deals per contact
    (``list_deals``), so the run finds ``deal_id`` among that contact's deals, and a deal id that
    belongs to someone else is refused instead of silently picking another client.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    deal_id: BusinessId
    contact_id: BusinessId
    marketing_approver: EmailAddress | None = None  # None: the approver directory's default
    product: Annotated[SingleLine, StringConstraints(max_length=100)]
    angle: Annotated[FreeText, StringConstraints(max_length=500)] | None = None


class Facts(BaseModel):
    """``$.facts``: the client and the won deal as the CRM (the system of record) knows them."""

    contact_id: str
    client_name: str
    client_email: EmailAddress
    company: str
    title: str | None = None
    industry: str | None = None
    deal_id: str
    deal_title: str
    stage: str
    amount_cents: int
    currency: str
    outcome: str
    metrics: dict[str, str]
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)]

    @property
    def published_key(self) -> str:
        return f"{PUBLISHED_PREFIX}{self.slug}.md"


_PLACEHOLDER_MARKERS = (
    "{{",
    "}}",
    "[client",
    "[company",
    "[name]",
    "[metric",
    "<insert",
    "lorem ipsum",
    "tbd",
)


def _no_placeholders(text: str) -> str:
    return reject_placeholders(text, _PLACEHOLDER_MARKERS)


Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=220)]


class InterviewQuestions(BaseModel):
    """What the LLM answers for ``case_study_questions`` (forced tool use, validated here)."""

    model_config = ConfigDict(extra="forbid")

    intro: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=400)] = Field(
        description="Two or three friendly sentences to the client explaining why we ask"
    )
    questions: list[Question] = Field(
        min_length=3, max_length=7, description="Open interview questions, one per item, no numbering"
    )

    @field_validator("intro")
    @classmethod
    def _intro_has_no_placeholders(cls, intro: str) -> str:
        return _no_placeholders(intro)

    @field_validator("questions")
    @classmethod
    def _questions_are_questions(cls, questions: list[str]) -> list[str]:
        for question in questions:
            _no_placeholders(question)
            if "\n" in question:
                raise ValueError("each question must be a single line")
        if len({q.lower() for q in questions}) != len(questions):
            raise ValueError("questions must not repeat")
        return questions


class CaseStudyDraft(BaseModel):
    """What the LLM answers for ``case_study_draft``. Rejects template leftovers so the client re-prompts."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[SingleLine, StringConstraints(min_length=10, max_length=120)] = Field(
        description="Headline of the case study, no markdown"
    )
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=40, max_length=400)] = Field(
        description="Two-sentence summary: who the client is and what changed"
    )
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=200, max_length=1900)] = Field(
        description="Markdown body with the sections Challenge, Solution and Results (## headings)"
    )

    @field_validator("title", "summary", "body")
    @classmethod
    def _no_template_leftovers(cls, text: str) -> str:
        return _no_placeholders(text)

    @field_validator("body")
    @classmethod
    def _no_links_or_images(cls, body: str) -> str:
        if re.search(r"https?://|!\[", body):
            raise ValueError("must not contain links or images; the web team adds them")
        return body


class DocumentRef(BaseModel):
    """A document in file storage, referenced by key and sha256 (``$.questions``, ``$.draft``)."""

    subject: str
    body_key: str
    body_sha256: Sha256Hex
    llm: dict[str, Any] | None = None


class QuestionsRef(DocumentRef):
    """``$.questions``: the interview questions document sent to the client."""

    count: int


class DraftRef(DocumentRef):
    """``$.draft``: the drafted case study, and whether the client's answers informed it."""

    answered: bool


class ApprovalDecision(BaseModel):
    """``$.answers`` / ``$.client_approval`` / ``$.marketing_approval``: what ``SendTaskSuccess`` carries."""

    approval_id: str
    decision: Literal["approve"]
    approver: EmailAddress
    comment: str | None = None
    edited: bool = False
    draft: DocumentRef


class Published(BaseModel):
    """``$.published``: the one object this run published."""

    key: str
    uri: str
    slug: str
    body_sha256: Sha256Hex
    published_at: str


class Unpublished(BaseModel):
    """``$.unpublished``: what the compensation did to the published object."""

    key: str
    deleted: bool
    detail: str


Status = Literal["published", "not_eligible", "declined", "no_answers", "rejected", "expired", "failed"]


class Outcome(BaseModel):
    """``$.outcome``: the run's final output. ``status`` says which designed end it reached."""

    status: Status
    deal_id: str
    activity_id: str
    detail: str
    s3_uri: str | None = None
    approved_by: list[str] | None = None
    edited: bool | None = None
