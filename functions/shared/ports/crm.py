"""CRM port: contacts, deals and the activity log of each contact.

Adapters: ``functions.shared.adapters.dynamodb_crm.DynamoDbCrm`` (cloud and local runtime) and
``functions.shared.adapters.memory.InMemoryCrm`` (domain unit tests). Both keep the same semantics,
which ``tests/unit/test_adapters_crm.py`` runs against each of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, Protocol, get_args, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from functions.shared.errors import BusinessRuleError

ContactStatus = Literal[
    "new",
    "researching",
    "contacted",
    "replied",
    "disqualified",
    "client",
    "dormant",
    "do_not_contact",
]
CONTACT_STATUSES: tuple[ContactStatus, ...] = get_args(ContactStatus)
#: A customer of the business, active or gone quiet ("dormant" is a client without recent activity,
#: not a former lead): never a cold-outreach target, and a conflict when on the other side of a matter.
CLIENT_STATUSES: frozenset[ContactStatus] = frozenset({"client", "dormant"})

# Deliberately simple: one "@", no whitespace, a dot in the domain. Deliverability is SES's problem.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMAIL_MAX_LEN = 254


def normalise_email(email: str) -> str:
    """The form used to look contacts up by email: stripped and lower-cased."""
    return email.strip().lower()


def _check_email(value: str) -> str:
    value = value.strip()
    if len(value) > _EMAIL_MAX_LEN or not _EMAIL_RE.fullmatch(value):
        raise ValueError("not a valid email address")
    return value


def parse_timestamp(value: str) -> datetime:
    """Parse ISO-8601; a value without an offset is taken as UTC. Raises ``ValueError``."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def sortable_timestamp(value: str) -> str:
    """Fixed-width UTC form (``2024-05-01T12:00:00.000000Z``): string order equals time order."""
    return parse_timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_iso() -> str:
    """Now, as ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_timestamp(value: str) -> str:
    parse_timestamp(value)  # ValueError → pydantic validation error
    return value


EmailAddress = Annotated[str, AfterValidator(_check_email)]
IsoTimestamp = Annotated[str, AfterValidator(_check_timestamp)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256)]
DetailValue = str | int | float | bool | None

_MODEL_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


class Contact(BaseModel):
    model_config = _MODEL_CONFIG

    contact_id: Identifier
    email: EmailAddress
    name: str
    company: str
    title: str | None = None
    industry: str | None = None
    company_size: int | None = Field(default=None, ge=0)
    status: ContactStatus = "new"
    do_not_contact: bool = False
    notes_key: str | None = None  # S3 key of free-text notes (FileStore)
    #: Who created the contact, e.g. "referral:<execution>": lets a run tell its own write from
    #: another run's, and undo only its own.
    source: str | None = Field(default=None, max_length=256)
    updated_at: IsoTimestamp = Field(default_factory=utc_now_iso)


class Deal(BaseModel):
    model_config = _MODEL_CONFIG

    deal_id: Identifier
    contact_id: Identifier
    title: str
    stage: str
    amount_cents: int = Field(ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    outcome: str | None = None
    metrics: dict[str, str] = Field(default_factory=dict)


class Activity(BaseModel):
    model_config = _MODEL_CONFIG

    activity_id: Identifier
    contact_id: Identifier
    kind: str = Field(min_length=1)  # "email_sent", "draft_rejected", "disqualified", "status_changed", ...
    summary: str
    at: IsoTimestamp
    trace_id: str | None = None
    details: dict[str, DetailValue] = Field(default_factory=dict)


class RelatedParty(BaseModel):
    """A party (person or organisation, often not a contact) a contact is related to through a record.

    E.g. a law firm's client is ``adverse`` to the other side of its matter: the conflict check of a
    later intake asks "is this prospect on the other side of one of our clients' matters?".
    """

    model_config = _MODEL_CONFIG

    contact_id: Identifier  # whose relationship it is
    party: str = Field(min_length=1)  # as written; matched on ``contact_keys.company_key``
    relation: str = Field(pattern=r"^[a-z_]{1,40}$")  # "adverse", ...
    ref: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")  # the record it comes from (a matter id)


class ClientTouch(BaseModel):
    """A client (status in ``CLIENT_STATUSES``) and when the CRM last saw it: what dormancy reads."""

    model_config = _MODEL_CONFIG

    contact: Contact
    last_activity_at: str | None = None  # its latest activity's ``at``; None: no activity at all


class StatusConflict(BusinessRuleError):
    """``set_status(expected=...)`` found the contact in another status (someone changed it first).

    Note: Lambda reports it as error type ``StatusConflict``; an ASL ``Catch`` on
    ``BusinessRuleError`` does not match it by inheritance, so domain code catches it.
    """

    def __init__(self, contact_id: str, *, expected: ContactStatus, actual: ContactStatus) -> None:
        super().__init__(f"contact {contact_id}: expected status {expected!r}, found {actual!r}")
        self.contact_id = contact_id
        self.expected = expected
        self.actual = actual


@runtime_checkable
class CrmPort(Protocol):
    def get_contact(self, contact_id: str) -> Contact | None:
        """The contact, or ``None`` if unknown."""
        ...

    def find_contact_by_email(self, email: str) -> Contact | None:
        """Case- and whitespace-insensitive lookup; ``None`` if nobody has that address."""
        ...

    def put_contact(self, contact: Contact) -> None:
        """Create or replace the contact's profile."""
        ...

    def create_contact(self, contact: Contact) -> bool:
        """Create the contact only if no contact has its id: ``False`` (nothing written) if one has.

        Atomic: of two runs creating the same id at once, exactly one gets ``True``.
        """
        ...

    def replace_contact(self, contact: Contact, *, expected_status: ContactStatus) -> bool:
        """Replace the contact only if it exists with ``expected_status``: ``False`` (nothing written)
        otherwise. Atomic: of two runs replacing it at once, exactly one gets ``True``."""
        ...

    def find_contacts(
        self,
        *,
        company: str | None = None,
        email_domain: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[Contact]:
        """Contacts matching ANY of the given keys, ordered by ``contact_id`` (the first ``limit``);
        no key, no contacts.

        Matching is ``functions.shared.contact_keys``: the same company (normalised; one may be the
        other plus more words), the same email domain (as ``contact_keys.email_domain`` returns
        it), the same normalised name. Served by an index, never a scan, and reads only matching
        contacts: a contact written a moment ago may be missing, but every contact returned is
        current and matches.
        """
        ...

    def set_status(
        self, contact_id: str, status: ContactStatus, *, expected: ContactStatus | None = None
    ) -> ContactStatus:
        """Change the status atomically and return the PREVIOUS one; also stamps ``updated_at``.

        ``status="do_not_contact"`` also sets the sticky ``do_not_contact`` flag.
        Raises ``StatusConflict`` if ``expected`` is given and differs from the current status,
        ``BusinessRuleError`` if the contact does not exist.
        """
        ...

    def relate_party(self, related: RelatedParty) -> None:
        """Record the relationship (idempotent: the same contact, ref, relation and party once)."""
        ...

    def unrelate_parties(self, contact_id: str, ref: str) -> None:
        """Remove every relationship of the contact that comes from ``ref`` (none: not an error)."""
        ...

    def find_related(self, party: str) -> list[RelatedParty]:
        """Relationships to a party of the same name (``contact_keys.same_company``: one may be the
        other plus more words), by contact and ref.

        Served by an index: a relationship written a moment ago may be missing."""
        ...

    def list_deals(self, contact_id: str) -> list[Deal]:
        """The contact's deals, ordered by ``deal_id``."""
        ...

    def put_deal(self, deal: Deal) -> None:
        """Create or replace a deal."""
        ...

    def log_activity(self, activity: Activity) -> None:
        """Append to the contact's log. Idempotent per (contact_id, activity_id): a second write
        with the same id (a retry, even with another ``at``) is ignored and is not an error."""
        ...

    def list_activities(self, contact_id: str) -> list[Activity]:
        """The contact's activities, oldest first (ties by ``activity_id``)."""
        ...

    def list_client_touches(self, *, segment: int = 0, segments: int = 1) -> list[ClientTouch]:
        """Every client (status "client" or "dormant") with the time of its latest activity,
        ordered by ``contact_id``: part ``segment`` of ``segments`` disjoint parts of the CRM.

        For sweeps over the whole client base (the re-engagement sweep), not for lookups: it reads
        the whole CRM once (DynamoDB: one parallel-scan segment, profiles and activities together,
        so there is no query per client), never a contact more than once.
        """
        ...
