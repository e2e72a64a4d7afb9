"""Factories of the port implementations a step uses: the only code that wires adapters.

Each factory is cached and built lazily from ``settings()`` on first call, never at import, so
tests and the local runtime can set up moto and the environment first. ``reset_adapters()`` drops
them (call it together with ``functions.shared.aws.reset_clients()`` when the environment changes).
``override_adapters(...)`` swaps in fakes (``memory.InMemoryCrm`` ...) for handler-level tests.
Adapter modules are imported inside the factories: a step pays only for the adapters it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from functions.shared.config import settings
from functions.shared.ports.billing import BillingPort
from functions.shared.ports.calendar import CalendarPort
from functions.shared.ports.crm import CrmPort
from functions.shared.ports.email import EmailPort
from functions.shared.ports.files import FileStore

__all__ = [
    "get_audit_files",
    "get_billing",
    "get_calendar",
    "get_crm",
    "get_email",
    "get_files",
    "override_adapters",
    "reset_adapters",
]

_overrides: dict[str, object] = {}


def get_crm() -> CrmPort:
    """The CRM (DynamoDB table ``settings().crm_table``)."""
    override = _overrides.get("crm")
    return override if isinstance(override, CrmPort) else _build_crm()


def get_billing() -> BillingPort:
    """Billing: rates, time entries, invoices, credits (DynamoDB table ``settings().billing_table``)."""
    override = _overrides.get("billing")
    return override if isinstance(override, BillingPort) else _build_billing()


def get_calendar() -> CalendarPort:
    """Calendars and appointments (DynamoDB table ``settings().calendar_table``)."""
    override = _overrides.get("calendar")
    return override if isinstance(override, CalendarPort) else _build_calendar()


def get_email() -> EmailPort:
    """Outgoing email (SES v2, sender ``settings().sender_email``)."""
    override = _overrides.get("email")
    return override if isinstance(override, EmailPort) else _build_email()


def get_files() -> FileStore:
    """Files bucket (``settings().files_bucket``): notes, drafts, large step outputs."""
    override = _overrides.get("files")
    return override if isinstance(override, FileStore) else _build_files(settings().files_bucket)


def get_audit_files() -> FileStore:
    """Audit bucket (``settings().audit_bucket``): LLM prompts and raw responses."""
    override = _overrides.get("audit_files")
    return override if isinstance(override, FileStore) else _build_files(settings().audit_bucket)


@lru_cache(maxsize=1)
def _build_crm() -> CrmPort:
    from functions.shared.adapters.dynamodb_crm import DynamoDbCrm

    return DynamoDbCrm(table_name=settings().crm_table)


@lru_cache(maxsize=1)
def _build_billing() -> BillingPort:
    from functions.shared.adapters.dynamodb_billing import DynamoDbBilling

    return DynamoDbBilling(table_name=settings().billing_table)


@lru_cache(maxsize=1)
def _build_calendar() -> CalendarPort:
    from functions.shared.adapters.dynamodb_calendar import DynamoDbCalendar

    return DynamoDbCalendar(table_name=settings().calendar_table)


@lru_cache(maxsize=1)
def _build_email() -> EmailPort:
    from functions.shared.adapters.ses_email import SesEmail

    return SesEmail(sender=settings().sender_email)


@lru_cache(maxsize=4)
def _build_files(bucket: str) -> FileStore:
    from functions.shared.adapters.s3_files import S3FileStore

    return S3FileStore(bucket=bucket)


def reset_adapters() -> None:
    """Forget the built adapters and any overrides."""
    _build_crm.cache_clear()
    _build_billing.cache_clear()
    _build_calendar.cache_clear()
    _build_email.cache_clear()
    _build_files.cache_clear()
    _overrides.clear()


@contextmanager
def override_adapters(
    *,
    crm: CrmPort | None = None,
    email: EmailPort | None = None,
    files: FileStore | None = None,
    audit_files: FileStore | None = None,
    billing: BillingPort | None = None,
    calendar: CalendarPort | None = None,
) -> Iterator[None]:
    """Within the block the factories return these instead of the AWS adapters."""
    new = {
        "crm": crm,
        "email": email,
        "files": files,
        "audit_files": audit_files,
        "billing": billing,
        "calendar": calendar,
    }
    saved = dict(_overrides)
    _overrides.update({name: port for name, port in new.items() if port is not None})
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(saved)
