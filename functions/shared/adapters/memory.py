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

from functions.shared.errors import BusinessRuleError, PermanentIntegrationError
from functions.shared.ports.crm import (
    Activity,
    Contact,
    ContactStatus,
    Deal,
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
