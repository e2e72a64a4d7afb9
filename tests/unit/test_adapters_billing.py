"""Billing port: the same scenarios against DynamoDbBilling (on moto) and InMemoryBilling."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from functions.shared.adapters import get_billing, override_adapters, reset_adapters
from functions.shared.adapters.dynamodb_billing import DynamoDbBilling
from functions.shared.adapters.dynamodb_items import deserialize
from functions.shared.adapters.memory import InMemoryBilling
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import BusinessRuleError, TransientIntegrationError
from functions.shared.ports.billing import BillingPort, Credit, Invoice, TimeEntry
from local.resources import SEED_LOADERS


def make_entry(entry_id: str, date: str = "2024-05-01", **changes: Any) -> TimeEntry:
    values: dict[str, Any] = {
        "entry_id": entry_id,
        "client_id": "cl-1",
        "matter_id": "m-1",
        "attorney": "ada@firm.example",
        "date": date,
        "minutes": 90,
        "description": f"work {entry_id}",
        "rate_cents": 30_000,
    }
    return TimeEntry(**(values | changes))


def make_invoice(invoice_id: str = "inv-1", **changes: Any) -> Invoice:
    values: dict[str, Any] = {
        "invoice_id": invoice_id,
        "client_id": "cl-1",
        "matter_id": None,
        "kind": "retainer",
        "amount_cents": 500_000,
        "issued_at": "2024-05-01T09:00:00Z",
        "memo": "Retainer",
    }
    return Invoice(**(values | changes))


def make_credit(credit_id: str, granted_at: str, client_id: str = "cl-1", **changes: Any) -> Credit:
    values: dict[str, Any] = {
        "credit_id": credit_id,
        "client_id": client_id,
        "amount_cents": 10_000,
        "reason": "referral",
        "granted_at": granted_at,
    }
    return Credit(**(values | changes))


@pytest.fixture(params=["dynamodb", "memory"])
def billing(request: pytest.FixtureRequest) -> BillingPort:
    """Each scenario runs against both implementations: the fake must behave like the adapter."""
    if request.param == "dynamodb":
        request.getfixturevalue("moto_aws")
        return DynamoDbBilling(table_name=settings().billing_table)
    return InMemoryBilling()


# -- rates -----------------------------------------------------------------------------------------


def test_rate_for_prefers_the_matter_rate_then_the_client_default(billing: BillingPort) -> None:
    # Given a client default rate and one matter rate
    billing.set_rate("cl-1", None, 30_000)
    billing.set_rate("cl-1", "m-1", 45_000)

    # When rates are looked up
    # Then the matter rate wins, other matters fall back, unknown clients have none
    assert isinstance(billing, BillingPort)
    assert billing.rate_for("cl-1", "m-1") == 45_000
    assert billing.rate_for("cl-1", "m-2") == 30_000
    assert billing.rate_for("cl-1", None) == 30_000
    assert billing.rate_for("cl-2", "m-1") is None

    # and a rate can be replaced, but never negative
    billing.set_rate("cl-1", "m-1", 40_000)
    assert billing.rate_for("cl-1", "m-1") == 40_000
    with pytest.raises(ValueError, match="rate_cents"):
        billing.set_rate("cl-1", None, -1)


# -- time entries ----------------------------------------------------------------------------------


def test_post_time_entry_is_idempotent_on_entry_id(billing: BillingPort) -> None:
    # Given a posted entry
    first = make_entry("te-1")
    billing.post_time_entry(first)

    # When it is posted again: identical, then a retry with other values (even another date)
    billing.post_time_entry(first)
    billing.post_time_entry(make_entry("te-1", date="2024-05-02", minutes=30))

    # Then one entry is stored: the first write wins
    assert billing.list_time_entries() == [first]


def test_list_time_entries_filters_by_client_attorney_and_inclusive_dates(billing: BillingPort) -> None:
    # Given entries of two clients and two attorneys on several days (posted out of order)
    billing.post_time_entry(make_entry("te-3", "2024-05-03"))
    billing.post_time_entry(make_entry("te-1", "2024-05-01"))
    billing.post_time_entry(make_entry("te-2b", "2024-05-02", attorney="Grace@Firm.example"))
    billing.post_time_entry(make_entry("te-2a", "2024-05-02"))
    billing.post_time_entry(make_entry("te-9", "2024-05-02", client_id="cl-2", source="recovered"))
    billing.post_time_entry(make_entry("te-0", "2024-04-30", status="void"))

    def ids(**filters: Any) -> list[str]:
        return [entry.entry_id for entry in billing.list_time_entries(**filters)]

    # When / Then: results are ordered by (date, entry_id), every filter applies, dates inclusive
    assert ids() == ["te-0", "te-1", "te-2a", "te-2b", "te-9", "te-3"]
    assert ids(client_id="cl-1") == ["te-0", "te-1", "te-2a", "te-2b", "te-3"]
    assert ids(client_id="cl-1", since="2024-05-01", until="2024-05-02") == ["te-1", "te-2a", "te-2b"]
    assert ids(attorney="grace@firm.EXAMPLE") == ["te-2b"]
    assert ids(client_id="cl-1", attorney="ada@firm.example", since="2024-05-02") == ["te-2a", "te-3"]
    assert ids(since="2024-05-02", until="2024-05-02") == ["te-2a", "te-2b", "te-9"]
    assert ids(attorney="ada@firm.example", until="2024-05-01") == ["te-0", "te-1"]
    assert ids(client_id="cl-nobody") == []
    # and the stored values come back unchanged
    (recovered,) = billing.list_time_entries(client_id="cl-2")
    assert recovered == make_entry("te-9", "2024-05-02", client_id="cl-2", source="recovered")


def test_time_entry_model_bounds() -> None:
    # Given / When / Then: zero or more than a day of minutes, an empty description, a bad date are refused
    for bad in ({"minutes": 0}, {"minutes": 24 * 60 + 1}, {"description": ""}, {"date": "May 1"}):
        with pytest.raises(ValidationError):
            make_entry("te-x", **bad)
    assert make_entry("te-x", date="20240501").date == "2024-05-01"


# -- invoices --------------------------------------------------------------------------------------


def test_issue_invoice_is_idempotent_on_invoice_id(billing: BillingPort) -> None:
    # Given an issued invoice
    billing.issue_invoice(make_invoice())

    # When it is issued again with another amount (a retry)
    billing.issue_invoice(make_invoice(amount_cents=1))

    # Then the first invoice stands, and an unknown id reads as None
    assert billing.get_invoice("inv-1") == make_invoice()
    assert billing.get_invoice("inv-unknown") is None


def test_void_invoice_compensates_and_is_repeatable(billing: BillingPort) -> None:
    # Given an open invoice
    billing.issue_invoice(make_invoice())

    # When it is voided twice (a compensation and its retry)
    first = billing.void_invoice("inv-1")
    second = billing.void_invoice("inv-1")

    # Then both return the void invoice, which is stored as void
    expected = make_invoice(status="void")
    assert first == second == expected
    assert billing.get_invoice("inv-1") == expected


def test_void_invoice_refuses_unknown_and_paid_invoices(billing: BillingPort) -> None:
    # Given a paid invoice
    billing.issue_invoice(make_invoice("inv-paid", status="paid"))

    # When / Then voiding it or an unknown invoice is a business rule error, and nothing changed
    with pytest.raises(BusinessRuleError, match="unknown invoice"):
        billing.void_invoice("inv-ghost")
    with pytest.raises(BusinessRuleError, match="already paid"):
        billing.void_invoice("inv-paid")
    assert billing.get_invoice("inv-ghost") is None
    paid = billing.get_invoice("inv-paid")
    assert paid is not None
    assert paid.status == "paid"


# -- credits ---------------------------------------------------------------------------------------


def test_credits_are_idempotent_and_listed_in_grant_order(billing: BillingPort) -> None:
    # Given credits granted out of order (one retried), and one of another client
    billing.grant_credit(make_credit("cr-2", "2024-05-02T08:00:00+00:00"))
    billing.grant_credit(make_credit("cr-1", "2024-05-01T10:00:00Z"))
    billing.grant_credit(make_credit("cr-1", "2024-05-03T10:00:00Z", amount_cents=99))  # retry
    billing.grant_credit(make_credit("cr-9", "2024-05-01T00:00:00Z", client_id="cl-2"))

    # When the client's credits are listed
    listed = billing.list_credits("cl-1")

    # Then each credit is there once (first write wins), oldest first
    assert listed == [
        make_credit("cr-1", "2024-05-01T10:00:00Z"),
        make_credit("cr-2", "2024-05-02T08:00:00+00:00"),
    ]
    assert billing.list_credits("cl-nobody") == []


# -- DynamoDB specifics, factory, seed -------------------------------------------------------------


def test_dynamodb_item_layout_matches_the_table_contract(moto_aws: None) -> None:
    # Given one item of each kind written through the adapter
    billing = DynamoDbBilling(table_name=settings().billing_table)
    billing.set_rate("cl-1", "m-1", 45_000)
    billing.post_time_entry(make_entry("te-1", attorney="Ada@Firm.example"))
    billing.issue_invoice(make_invoice())
    billing.grant_credit(make_credit("cr-1", "2024-05-01T10:00:00Z"))

    # When the raw items are read
    items = [
        deserialize(item) for item in client("dynamodb").scan(TableName=settings().billing_table)["Items"]
    ]
    keys = {(item["pk"], item["sk"]) for item in items}

    # Then the keys follow the documented single-table layout
    assert keys == {
        ("CLIENT#cl-1", "RATE#m-1"),
        ("CLIENT#cl-1", "TIME#2024-05-01#te-1"),
        ("TIMEENTRY#te-1", "MARKER"),
        ("INVOICE#inv-1", "INVOICE"),
        ("CLIENT#cl-1", "CREDIT#2024-05-01T10:00:00.000000Z#cr-1"),
        ("CREDITID#cr-1", "MARKER"),
    }
    (entry,) = [item for item in items if item["sk"].startswith("TIME#")]
    assert (entry["gsi1pk"], entry["gsi1sk"]) == ("ATTORNEY#ada@firm.example", "TIME#2024-05-01#te-1")


def test_get_billing_builds_the_dynamodb_adapter_once_and_can_be_overridden(moto_aws: None) -> None:
    # Given / When the factory is called twice, inside an override, then after a reset
    first, second = get_billing(), get_billing()
    fake = InMemoryBilling()
    with override_adapters(billing=fake):
        overridden = get_billing()
    reset_adapters()

    # Then it is one DynamoDB adapter on the configured table, the fake in the block, rebuilt after reset
    assert first is second
    assert isinstance(first, DynamoDbBilling)
    assert first.table_name == settings().billing_table
    assert overridden is fake
    assert get_billing() is not first


def test_throttled_dynamodb_call_raises_transient_error(moto_aws: None) -> None:
    # Given DynamoDB throttles the next call
    billing = DynamoDbBilling(table_name=settings().billing_table)
    with Stubber(client("dynamodb")) as stub:
        stub.add_client_error("transact_write_items", service_error_code="ThrottlingException")

        # When / Then a time entry post fails with a retryable, named error
        with pytest.raises(TransientIntegrationError, match=r"^billing.post_time_entry: ThrottlingException"):
            billing.post_time_entry(make_entry("te-1"))


def test_seed_loader_loads_the_billing_shape(moto_aws: None) -> None:
    # Given a billing.json document
    data = {
        "clients": [
            {"client_id": "cl-1", "name": "Acme", "rate_cents": 30_000, "matter_rates": {"m-1": 45_000}}
        ],
        "rates": [{"client_id": "cl-2", "matter_id": None, "rate_cents": 20_000}],
        "time_entries": [make_entry("te-1").model_dump()],
        "invoices": [make_invoice().model_dump()],
        "credits": [make_credit("cr-1", "2024-05-01T10:00:00Z").model_dump()],
    }

    # When it is loaded
    SEED_LOADERS["billing"](data)

    # Then everything is in the billing system
    billing = get_billing()
    assert (billing.rate_for("cl-1", "m-1"), billing.rate_for("cl-1", "m-9")) == (45_000, 30_000)
    assert billing.rate_for("cl-2", None) == 20_000
    assert billing.list_time_entries() == [make_entry("te-1")]
    assert billing.get_invoice("inv-1") == make_invoice()
    assert billing.list_credits("cl-1") == [make_credit("cr-1", "2024-05-01T10:00:00Z")]
