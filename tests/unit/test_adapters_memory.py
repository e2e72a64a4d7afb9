"""In-memory fakes: what domain unit tests rely on beyond the shared port scenarios.

The CRM and file-store scenarios shared with the AWS adapters live in test_adapters_crm.py and
test_adapters_files.py (parametrized over both implementations).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.shared.adapters import get_crm, get_email, get_files, override_adapters, reset_adapters
from functions.shared.adapters.dynamodb_crm import DynamoDbCrm
from functions.shared.adapters.memory import InMemoryCrm, InMemoryEmail, InMemoryFileStore
from functions.shared.errors import TransientIntegrationError
from functions.shared.ports.crm import Contact, CrmPort
from functions.shared.ports.email import EmailPort, OutgoingEmail
from functions.shared.ports.files import FileStore


def make_contact() -> Contact:
    return Contact(
        contact_id="c-1", email="ada@example.com", name="Ada", company="AE", updated_at="2024-05-01T09:00:00Z"
    )


@pytest.fixture
def clean_adapters() -> Iterator[None]:
    reset_adapters()
    yield
    reset_adapters()


def test_fakes_implement_the_ports() -> None:
    # Given / When the fakes are typed as their ports (mypy checks this line too)
    crm: CrmPort = InMemoryCrm()
    email: EmailPort = InMemoryEmail()
    files: FileStore = InMemoryFileStore()

    # Then they also pass the runtime protocol checks
    assert isinstance(crm, CrmPort)
    assert isinstance(email, EmailPort)
    assert isinstance(files, FileStore)


def test_email_fake_records_the_outbox() -> None:
    # Given the email fake
    email = InMemoryEmail()
    outgoing = OutgoingEmail(to="ada@example.com", subject="Hi", body_text="Hello")

    # When two emails are sent
    first = email.send(outgoing)
    second = email.send(outgoing.model_copy(update={"subject": "Again"}))

    # Then both are recorded in order with distinct message ids
    assert [(sent.subject, receipt.message_id) for sent, receipt in email.outbox] == [
        ("Hi", first.message_id),
        ("Again", second.message_id),
    ]
    assert first.message_id != second.message_id
    assert (first.to, first.subject) == ("ada@example.com", "Hi")


def test_fail_next_raises_once_then_recovers() -> None:
    # Given a CRM fake told to fail its next call with a throttling error
    crm = InMemoryCrm()
    crm.put_contact(make_contact())
    crm.fail_next(TransientIntegrationError("crm.get_contact: ThrottlingException: slow down"))

    # When it is called twice
    with pytest.raises(TransientIntegrationError):
        crm.get_contact("c-1")
    loaded = crm.get_contact("c-1")

    # Then only the first call failed
    assert loaded == make_contact()


def test_email_fake_failure_sends_nothing() -> None:
    # Given an email fake that fails its next send
    email = InMemoryEmail()
    email.fail_next(TransientIntegrationError("email.send: Throttling: rate"))

    # When / Then the send raises and nothing is recorded
    with pytest.raises(TransientIntegrationError):
        email.send(OutgoingEmail(to="ada@example.com", subject="Hi", body_text="Hello"))
    assert email.outbox == []


def test_crm_fake_returns_copies() -> None:
    # Given a stored contact
    crm = InMemoryCrm()
    contact = make_contact()
    crm.put_contact(contact)

    # When the caller mutates both its original and a loaded copy
    contact.name = "changed"
    loaded = crm.get_contact("c-1")
    assert loaded is not None
    loaded.company = "changed too"

    # Then the stored contact is untouched, as with a real database
    assert crm.get_contact("c-1") == make_contact()


def test_override_adapters_swaps_in_fakes_and_restores(clean_adapters: None) -> None:
    # Given fakes for every port
    crm, email, files = InMemoryCrm(), InMemoryEmail(), InMemoryFileStore()

    # When the factories are called inside and after an override block
    with override_adapters(crm=crm, email=email, files=files):
        inside = (get_crm(), get_email(), get_files())
    after = get_crm()  # built lazily: no AWS call happens here

    # Then they return the fakes inside, and the real adapter afterwards
    assert inside == (crm, email, files)
    assert isinstance(after, DynamoDbCrm)
