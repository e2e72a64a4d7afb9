"""Billing port (law firm): hourly rates, billable time entries, invoices and client credits.

Adapters: ``functions.shared.adapters.dynamodb_billing.DynamoDbBilling`` (cloud and local runtime)
and ``functions.shared.adapters.memory.InMemoryBilling`` (domain unit tests), with the same
semantics (``tests/unit/test_adapters_billing.py`` runs the same scenarios against both).

Writes that move money or billable time are idempotent on their id, so a retried step cannot post
twice: ``post_time_entry`` (``entry_id``), ``issue_invoice`` (``invoice_id``), ``grant_credit``
(``credit_id``). The first write wins; a retry with the same id is a silent no-op, even when other
fields differ. ``void_invoice`` is the compensation of ``issue_invoice``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Protocol, get_args, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from functions.shared.ports.crm import Identifier, IsoTimestamp

TimeEntryStatus = Literal["draft", "posted", "void"]
InvoiceKind = Literal["retainer", "hours"]
InvoiceStatus = Literal["open", "paid", "void"]
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = get_args(InvoiceStatus)

MAX_MINUTES_PER_ENTRY = 24 * 60


def iso_date(value: str) -> str:
    """``YYYY-MM-DD`` (any ISO date spelling is normalised to it). Raises ``ValueError``."""
    return date.fromisoformat(value).isoformat()


IsoDate = Annotated[str, AfterValidator(iso_date)]

_MODEL_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


class TimeEntry(BaseModel):
    model_config = _MODEL_CONFIG

    entry_id: Identifier
    client_id: Identifier
    matter_id: Identifier | None = None
    attorney: str = Field(min_length=1, max_length=254)  # attorney email (matched case-insensitively)
    date: IsoDate
    minutes: int = Field(gt=0, le=MAX_MINUTES_PER_ENTRY)
    description: str = Field(min_length=1, max_length=500)
    rate_cents: int = Field(ge=0)  # hourly rate applied to this entry
    status: TimeEntryStatus = "posted"
    source: str | None = None  # provenance, e.g. "recovered"


class Invoice(BaseModel):
    model_config = _MODEL_CONFIG

    invoice_id: Identifier
    client_id: Identifier
    matter_id: Identifier | None = None
    kind: InvoiceKind
    amount_cents: int = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    status: InvoiceStatus = "open"
    issued_at: IsoTimestamp
    memo: str = ""
    #: Who issued it (a workflow's execution name): its compensation voids only what it issued.
    issued_by: str | None = None


class Credit(BaseModel):
    model_config = _MODEL_CONFIG

    credit_id: Identifier
    client_id: Identifier
    amount_cents: int = Field(gt=0)
    reason: str = Field(min_length=1)
    granted_at: IsoTimestamp


def normalise_attorney(attorney: str) -> str:
    """The form attorneys are matched on: stripped and lower-cased."""
    return attorney.strip().lower()


@runtime_checkable
class BillingPort(Protocol):
    def set_rate(self, client_id: str, matter_id: str | None, rate_cents: int) -> None:
        """Set the hourly rate of a matter (``matter_id``) or the client's default (``None``).
        Raises ``ValueError`` if ``rate_cents < 0``."""
        ...

    def rate_for(self, client_id: str, matter_id: str | None) -> int | None:
        """The matter's rate, else the client's default rate, else ``None``."""
        ...

    def post_time_entry(self, entry: TimeEntry) -> None:
        """Record a time entry. Idempotent on ``entry_id``: a retry with the same id is a no-op."""
        ...

    def list_time_entries(
        self,
        *,
        client_id: str | None = None,
        attorney: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[TimeEntry]:
        """Entries matching every given filter (any status), ordered by ``(date, entry_id)``.

        ``since``/``until`` are ISO dates, both INCLUSIVE; ``attorney`` matches case-insensitively.
        """
        ...

    def issue_invoice(self, invoice: Invoice) -> None:
        """Record an invoice. Idempotent on ``invoice_id``: a retry with the same id is a no-op."""
        ...

    def void_invoice(self, invoice_id: str) -> Invoice:
        """Compensation of ``issue_invoice``: set status ``void`` and return the invoice.

        Voiding a void invoice is a no-op that returns it. Raises ``BusinessRuleError`` if the
        invoice is unknown or already ``paid`` (a paid invoice needs a refund, not a void).
        """
        ...

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice, or ``None`` if unknown."""
        ...

    def grant_credit(self, credit: Credit) -> None:
        """Record a credit. Idempotent on ``credit_id``: a retry with the same id is a no-op."""
        ...

    def list_credits(self, client_id: str) -> list[Credit]:
        """The client's credits, ordered by ``(granted_at, credit_id)``."""
        ...
