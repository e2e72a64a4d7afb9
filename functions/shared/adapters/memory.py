"""In-memory fakes of the ports, for domain unit tests.

They keep the adapters' semantics (``tests/unit/test_adapters_crm.py`` runs the same scenarios
against ``InMemoryCrm`` and ``DynamoDbCrm``): conditional status changes, idempotent activities,
case-insensitive email lookup, missing files raising ``PermanentIntegrationError``. Stored and
returned models are copies, as with a real store. ``fail_next(exc)`` makes the next call raise
``exc`` to exercise error paths (e.g. ``TransientIntegrationError``).
"""

from __future__ import annotations

import itertools
from typing import Any, TypeVar

from pydantic import BaseModel

from functions.shared.contact_keys import ContactQuery, company_key, same_company
from functions.shared.errors import BusinessRuleError, PermanentIntegrationError
from functions.shared.ports.billing import Credit, Invoice, TimeEntry, iso_date, normalise_attorney
from functions.shared.ports.calendar import CalendarConflict, CalendarEvent, EventStatus, normalise_owner
from functions.shared.ports.crm import (
    CLIENT_STATUSES,
    Activity,
    ClientTouch,
    Contact,
    ContactStatus,
    Deal,
    RelatedParty,
    StatusConflict,
    normalise_email,
    sortable_timestamp,
    utc_now_iso,
)
from functions.shared.ports.email import OutgoingEmail, SentEmail
from functions.shared.ports.files import (
    DEFAULT_TEXT_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    check_key,
    dumps_json,
    loads_json,
)

ModelT = TypeVar("ModelT", bound=BaseModel)


def _copy(model: ModelT) -> ModelT:
    return model.model_copy(deep=True)


class _FailureInjection:
    def __init__(self) -> None:
        self._failures: list[Exception] = []

    def fail_next(self, *errors: Exception) -> None:
        """The next ``len(errors)`` calls raise these errors, in order."""
        self._failures.extend(errors)

    def _maybe_fail(self) -> None:
        if self._failures:
            raise self._failures.pop(0)


class InMemoryCrm(_FailureInjection):
    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, Contact] = {}
        self.deals: dict[tuple[str, str], Deal] = {}
        self.activities: dict[tuple[str, str], Activity] = {}  # (contact_id, activity_id)
        self.related: dict[tuple[str, str, str, str], RelatedParty] = {}  # (contact, ref, relation, key)

    def get_contact(self, contact_id: str) -> Contact | None:
        self._maybe_fail()
        contact = self.contacts.get(contact_id)
        return _copy(contact) if contact else None

    def find_contact_by_email(self, email: str) -> Contact | None:
        self._maybe_fail()
        wanted = normalise_email(email)
        for contact_id in sorted(self.contacts):
            if normalise_email(self.contacts[contact_id].email) == wanted:
                return _copy(self.contacts[contact_id])
        return None

    def put_contact(self, contact: Contact) -> None:
        self._maybe_fail()
        self.contacts[contact.contact_id] = _copy(contact)

    def create_contact(self, contact: Contact) -> bool:
        self._maybe_fail()
        if contact.contact_id in self.contacts:
            return False
        self.contacts[contact.contact_id] = _copy(contact)
        return True

    def replace_contact(self, contact: Contact, *, expected_status: ContactStatus) -> bool:
        self._maybe_fail()
        current = self.contacts.get(contact.contact_id)
        if current is None or current.status != expected_status:
            return False
        self.contacts[contact.contact_id] = _copy(contact)
        return True

    def find_contacts(
        self,
        *,
        company: str | None = None,
        email_domain: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[Contact]:
        self._maybe_fail()
        query = ContactQuery.of(company=company, email_domain=email_domain, name=name)
        found = [
            _copy(c)
            for _, c in sorted(self.contacts.items())
            if query and query.matches(company=c.company, email=c.email, name=c.name)
        ]
        return found[:limit]

    def set_status(
        self, contact_id: str, status: ContactStatus, *, expected: ContactStatus | None = None
    ) -> ContactStatus:
        self._maybe_fail()
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise BusinessRuleError(f"crm.set_status: unknown contact {contact_id}")
        previous = contact.status
        if expected is not None and previous != expected:
            raise StatusConflict(contact_id, expected=expected, actual=previous)
        changes: dict[str, Any] = {"status": status, "updated_at": utc_now_iso()}
        if status == "do_not_contact":
            changes["do_not_contact"] = True
        self.contacts[contact_id] = contact.model_copy(update=changes)
        return previous

    def relate_party(self, related: RelatedParty) -> None:
        self._maybe_fail()
        party_key = company_key(related.party)
        if not party_key:
            raise BusinessRuleError(f"crm.relate_party: {related.party!r} has no name to match on")
        self.related.setdefault(
            (related.contact_id, related.ref, related.relation, party_key), _copy(related)
        )

    def unrelate_parties(self, contact_id: str, ref: str) -> None:
        self._maybe_fail()
        for key in [k for k in self.related if k[:2] == (contact_id, ref)]:
            del self.related[key]

    def find_related(self, party: str) -> list[RelatedParty]:
        self._maybe_fail()
        found = [r for r in self.related.values() if same_company(r.party, party)]
        return [_copy(r) for r in sorted(found, key=lambda r: (r.contact_id, r.ref, r.relation, r.party))]

    def list_deals(self, contact_id: str) -> list[Deal]:
        self._maybe_fail()
        return [_copy(deal) for (owner, _), deal in sorted(self.deals.items()) if owner == contact_id]

    def put_deal(self, deal: Deal) -> None:
        self._maybe_fail()
        self.deals[(deal.contact_id, deal.deal_id)] = _copy(deal)

    def log_activity(self, activity: Activity) -> None:
        self._maybe_fail()
        self.activities.setdefault((activity.contact_id, activity.activity_id), _copy(activity))

    def list_activities(self, contact_id: str) -> list[Activity]:
        self._maybe_fail()
        mine = [a for (owner, _), a in self.activities.items() if owner == contact_id]
        mine.sort(key=lambda a: (sortable_timestamp(a.at), a.activity_id))
        return [_copy(a) for a in mine]

    def list_client_touches(self, *, segment: int = 0, segments: int = 1) -> list[ClientTouch]:
        self._maybe_fail()
        latest: dict[str, str] = {}
        for (owner, _), activity in self.activities.items():
            if owner not in latest or sortable_timestamp(activity.at) > sortable_timestamp(latest[owner]):
                latest[owner] = activity.at
        return [
            ClientTouch(contact=_copy(contact), last_activity_at=latest.get(contact_id))
            for index, (contact_id, contact) in enumerate(sorted(self.contacts.items()))
            if contact.status in CLIENT_STATUSES and index % segments == segment
        ]


class InMemoryEmail(_FailureInjection):
    """Records every sent email in ``outbox`` (oldest first)."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: list[tuple[OutgoingEmail, SentEmail]] = []
        self._ids = itertools.count(1)

    def send(self, email: OutgoingEmail) -> SentEmail:
        self._maybe_fail()
        sent = SentEmail(
            message_id=f"mem-{next(self._ids):06d}", to=email.to, subject=email.subject, sent_at=utc_now_iso()
        )
        self.outbox.append((_copy(email), sent))
        return sent


class InMemoryFileStore(_FailureInjection):
    """Objects in a dict; references use the same ``s3://<bucket>/<key>`` form as S3."""

    def __init__(self, bucket: str = "memory") -> None:
        super().__init__()
        self.bucket = bucket
        self.objects: dict[str, tuple[str, str]] = {}  # key → (text, content type)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def get_text(self, key: str) -> str:
        self._maybe_fail()
        check_key(key)
        if key not in self.objects:
            raise PermanentIntegrationError(f"files.get_text: no object at {self.uri(key)}")
        return self.objects[key][0]

    def put_text(self, key: str, text: str, *, content_type: str = DEFAULT_TEXT_CONTENT_TYPE) -> str:
        self._maybe_fail()
        check_key(key)
        self.objects[key] = (text, content_type)
        return self.uri(key)

    def put_json(self, key: str, obj: object) -> str:
        return self.put_text(key, dumps_json(obj), content_type=JSON_CONTENT_TYPE)

    def get_json(self, key: str) -> Any:
        return loads_json(self.get_text(key), uri=self.uri(key))

    def exists(self, key: str) -> bool:
        self._maybe_fail()
        check_key(key)
        return key in self.objects

    def delete(self, key: str) -> None:
        self._maybe_fail()
        check_key(key)
        self.objects.pop(key, None)


class InMemoryBilling(_FailureInjection):
    """Rates, time entries, invoices and credits in dicts; first write wins for each id."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: dict[tuple[str, str | None], int] = {}  # (client_id, matter_id or None)
        self.time_entries: dict[str, TimeEntry] = {}
        self.invoices: dict[str, Invoice] = {}
        self.credits: dict[str, Credit] = {}

    def set_rate(self, client_id: str, matter_id: str | None, rate_cents: int) -> None:
        self._maybe_fail()
        if rate_cents < 0:
            raise ValueError("rate_cents must be >= 0")
        self.rates[(client_id, matter_id)] = rate_cents

    def rate_for(self, client_id: str, matter_id: str | None) -> int | None:
        self._maybe_fail()
        if matter_id is not None and (client_id, matter_id) in self.rates:
            return self.rates[(client_id, matter_id)]
        return self.rates.get((client_id, None))

    def post_time_entry(self, entry: TimeEntry) -> None:
        self._maybe_fail()
        self.time_entries.setdefault(entry.entry_id, _copy(entry))

    def list_time_entries(
        self,
        *,
        client_id: str | None = None,
        attorney: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[TimeEntry]:
        self._maybe_fail()
        low = iso_date(since) if since else None
        high = iso_date(until) if until else None
        wanted = normalise_attorney(attorney) if attorney is not None else None
        found = [
            entry
            for entry in self.time_entries.values()
            if (client_id is None or entry.client_id == client_id)
            and (wanted is None or normalise_attorney(entry.attorney) == wanted)
            and (low is None or entry.date >= low)
            and (high is None or entry.date <= high)
        ]
        return [_copy(e) for e in sorted(found, key=lambda e: (e.date, e.entry_id))]

    def issue_invoice(self, invoice: Invoice) -> None:
        self._maybe_fail()
        self.invoices.setdefault(invoice.invoice_id, _copy(invoice))

    def void_invoice(self, invoice_id: str) -> Invoice:
        self._maybe_fail()
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise BusinessRuleError(f"billing.void_invoice: unknown invoice {invoice_id}")
        if invoice.status == "paid":
            raise BusinessRuleError(f"billing.void_invoice: invoice {invoice_id} is already paid")
        self.invoices[invoice_id] = invoice.model_copy(update={"status": "void"})
        return _copy(self.invoices[invoice_id])

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        self._maybe_fail()
        invoice = self.invoices.get(invoice_id)
        return _copy(invoice) if invoice else None

    def grant_credit(self, credit: Credit) -> None:
        self._maybe_fail()
        self.credits.setdefault(credit.credit_id, _copy(credit))

    def list_credits(self, client_id: str) -> list[Credit]:
        self._maybe_fail()
        mine = [c for c in self.credits.values() if c.client_id == client_id]
        mine.sort(key=lambda c: (sortable_timestamp(c.granted_at), c.credit_id))
        return [_copy(c) for c in mine]


def _event_order(event: CalendarEvent) -> tuple[str, str]:
    return sortable_timestamp(event.starts_at), event.event_id


class InMemoryCalendar(_FailureInjection):
    """Events in a dict keyed by ``event_id``; lists are ordered by ``(starts_at, event_id)``."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, CalendarEvent] = {}

    def put_event(self, event: CalendarEvent) -> None:
        self._maybe_fail()
        self.events[event.event_id] = _copy(event)

    def get_event(self, event_id: str) -> CalendarEvent | None:
        self._maybe_fail()
        event = self.events.get(event_id)
        return _copy(event) if event else None

    def list_events(
        self,
        *,
        owner: str | None = None,
        starts_from: str,
        starts_before: str,
        kind: str | None = None,
    ) -> list[CalendarEvent]:
        self._maybe_fail()
        low, high = sortable_timestamp(starts_from), sortable_timestamp(starts_before)
        wanted = normalise_owner(owner) if owner is not None else None
        found = [
            event
            for event in self.events.values()
            if low <= sortable_timestamp(event.starts_at) < high
            and (wanted is None or normalise_owner(event.owner) == wanted)
            and (kind is None or event.kind == kind)
        ]
        return [_copy(e) for e in sorted(found, key=_event_order)]

    def set_status(
        self,
        event_id: str,
        status: EventStatus,
        *,
        expected: EventStatus | None = None,
        confirmed_at: str | None = None,
        clear_confirmed_at: bool = False,
    ) -> EventStatus:
        self._maybe_fail()
        event = self.events.get(event_id)
        if event is None:
            raise BusinessRuleError(f"calendar.set_status: unknown event {event_id}")
        previous = event.status
        if expected is not None and previous != expected:
            raise CalendarConflict(event_id, expected=expected, actual=previous)
        changes: dict[str, Any] = {"status": status}
        if confirmed_at is not None:
            sortable_timestamp(confirmed_at)  # ValueError on a malformed timestamp
            changes["confirmed_at"] = confirmed_at
        elif clear_confirmed_at:
            changes["confirmed_at"] = None
        self.events[event_id] = event.model_copy(update=changes)
        return previous

    def history(self, contact_id: str) -> list[CalendarEvent]:
        self._maybe_fail()
        mine = [e for e in self.events.values() if e.contact_id == contact_id]
        return [_copy(e) for e in sorted(mine, key=_event_order)]
