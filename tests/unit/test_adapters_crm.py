"""CRM port: the same scenarios against DynamoDbCrm (on moto) and InMemoryCrm, plus error mapping."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from pydantic import ValidationError

from functions.shared.adapters import get_crm, reset_adapters
from functions.shared.adapters.dynamodb_crm import DynamoDbCrm
from functions.shared.adapters.dynamodb_items import deserialize
from functions.shared.adapters.errors import map_client_error
from functions.shared.adapters.memory import InMemoryCrm
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import (
    BusinessRuleError,
    PermanentIntegrationError,
    StepwiseError,
    TransientIntegrationError,
)
from functions.shared.ports.crm import Activity, Contact, CrmPort, Deal, StatusConflict


def make_contact(contact_id: str = "c-1", email: str = "Ada@Example.com", **changes: Any) -> Contact:
    values: dict[str, Any] = {
        "contact_id": contact_id,
        "email": email,
        "name": "Ada Lovelace",
        "company": "Analytical Engines Ltd",
        "title": "CTO",
        "company_size": 42,
        "updated_at": "2024-05-01T09:00:00Z",
    }
    return Contact(**(values | changes))


def make_activity(activity_id: str, at: str, contact_id: str = "c-1", **changes: Any) -> Activity:
    values: dict[str, Any] = {
        "activity_id": activity_id,
        "contact_id": contact_id,
        "kind": "email_sent",
        "summary": f"activity {activity_id}",
        "at": at,
    }
    return Activity(**(values | changes))


@pytest.fixture(params=["dynamodb", "memory"])
def crm(request: pytest.FixtureRequest) -> CrmPort:
    """Each scenario runs against both implementations: the fake must behave like the adapter."""
    if request.param == "dynamodb":
        request.getfixturevalue("moto_aws")
        return DynamoDbCrm(table_name=settings().crm_table)
    return InMemoryCrm()


# -- contacts --------------------------------------------------------------------------------------


def test_contact_round_trip(crm: CrmPort) -> None:
    # Given a contact with optional fields set and unset
    contact = make_contact(industry=None, notes_key="notes/c-1.txt")

    # When it is stored and read back
    crm.put_contact(contact)
    loaded = crm.get_contact("c-1")

    # Then it is the same contact, and an unknown id reads as None
    assert loaded == contact
    assert crm.get_contact("c-unknown") is None
    assert isinstance(crm, CrmPort)


def test_put_contact_replaces_profile(crm: CrmPort) -> None:
    # Given a stored contact
    crm.put_contact(make_contact())

    # When it is stored again with a new title
    crm.put_contact(make_contact(title="CEO"))

    # Then the profile is replaced
    loaded = crm.get_contact("c-1")
    assert loaded is not None
    assert loaded.title == "CEO"


def test_find_contact_by_email_ignores_case_and_whitespace(crm: CrmPort) -> None:
    # Given two contacts
    crm.put_contact(make_contact("c-1", "Ada@Example.com"))
    crm.put_contact(make_contact("c-2", "grace@example.com"))

    # When one is looked up with other casing and surrounding spaces
    found = crm.find_contact_by_email("  ada@EXAMPLE.com ")

    # Then that contact is found, and an unknown address finds nobody
    assert found is not None
    assert found.contact_id == "c-1"
    assert crm.find_contact_by_email("nobody@example.com") is None


def test_find_contact_by_email_follows_an_email_change(crm: CrmPort) -> None:
    # Given a contact whose email address changed
    crm.put_contact(make_contact("c-1", "old@example.com"))
    crm.put_contact(make_contact("c-1", "new@example.com"))

    # When both addresses are looked up
    by_old = crm.find_contact_by_email("old@example.com")
    by_new = crm.find_contact_by_email("new@example.com")

    # Then only the current address finds the contact
    assert by_old is None
    assert by_new is not None
    assert by_new.contact_id == "c-1"


def test_contact_rejects_an_invalid_email() -> None:
    # Given / When / Then: an address without a domain dot is refused by the model
    with pytest.raises(ValidationError):
        make_contact(email="ada@localhost")


# -- status ----------------------------------------------------------------------------------------


def test_set_status_returns_previous_status(crm: CrmPort) -> None:
    # Given a new contact
    crm.put_contact(make_contact())

    # When its status moves twice
    first = crm.set_status("c-1", "researching")
    second = crm.set_status("c-1", "contacted", expected="researching")

    # Then each call returns the status it replaced, and updated_at moved on
    assert (first, second) == ("new", "researching")
    loaded = crm.get_contact("c-1")
    assert loaded is not None
    assert loaded.status == "contacted"
    assert loaded.updated_at != "2024-05-01T09:00:00Z"


def test_set_status_with_stale_expectation_raises_status_conflict(crm: CrmPort) -> None:
    # Given a contact someone already moved to "replied"
    crm.put_contact(make_contact(status="replied"))

    # When a step expects it to still be "new"
    with pytest.raises(StatusConflict) as raised:
        crm.set_status("c-1", "contacted", expected="new")

    # Then the conflict names both statuses, is a BusinessRuleError, and nothing changed
    assert (raised.value.expected, raised.value.actual) == ("new", "replied")
    assert isinstance(raised.value, BusinessRuleError)
    loaded = crm.get_contact("c-1")
    assert loaded is not None
    assert loaded.status == "replied"


def test_set_status_of_unknown_contact_raises_business_rule_error(crm: CrmPort) -> None:
    # Given an empty CRM
    # When a status is set on a contact that does not exist
    with pytest.raises(BusinessRuleError) as raised:
        crm.set_status("c-ghost", "contacted", expected="new")

    # Then it is a business rule error, not a conflict, and no profile was created
    assert not isinstance(raised.value, StatusConflict)
    assert crm.get_contact("c-ghost") is None


def test_set_status_do_not_contact_also_sets_the_flag(crm: CrmPort) -> None:
    # Given a contacted contact
    crm.put_contact(make_contact(status="contacted"))

    # When they ask not to be contacted
    previous = crm.set_status("c-1", "do_not_contact")

    # Then the sticky flag is set too
    loaded = crm.get_contact("c-1")
    assert previous == "contacted"
    assert loaded is not None
    assert (loaded.status, loaded.do_not_contact) == ("do_not_contact", True)


# -- activities ------------------------------------------------------------------------------------


def test_activities_are_listed_oldest_first(crm: CrmPort) -> None:
    # Given activities logged out of order, with different ISO spellings of UTC and a tie
    crm.log_activity(make_activity("a-3", "2024-05-02T08:00:00+00:00"))
    crm.log_activity(make_activity("a-1", "2024-05-01T10:00:00Z"))
    crm.log_activity(make_activity("a-2b", "2024-05-01T12:00:00.000Z"))
    crm.log_activity(make_activity("a-2a", "2024-05-01T14:00:00+02:00"))  # 12:00 UTC, ties with a-2b
    crm.log_activity(make_activity("other", "2024-05-01T00:00:00Z", contact_id="c-2"))

    # When the contact's activities are listed
    listed = crm.list_activities("c-1")

    # Then they come oldest first (ties by id), only this contact's, with their original values
    assert [a.activity_id for a in listed] == ["a-1", "a-2a", "a-2b", "a-3"]
    assert listed[0] == make_activity("a-1", "2024-05-01T10:00:00Z")
    assert crm.list_activities("c-nobody") == []


def test_duplicate_activity_id_is_stored_once(crm: CrmPort) -> None:
    # Given an activity already logged
    first = make_activity("exec-1:LogActivity", "2024-05-01T10:00:00Z", summary="first")
    crm.log_activity(first)

    # When the same activity id is written again: an identical retry, then a retry stamped later
    crm.log_activity(first)
    crm.log_activity(make_activity("exec-1:LogActivity", "2024-05-01T10:05:00Z", summary="retry"))

    # Then one activity is stored: the first write wins and no error is raised
    assert crm.list_activities("c-1") == [first]


def test_activity_details_keep_their_types(crm: CrmPort) -> None:
    # Given an activity with details of every allowed type
    details: dict[str, str | int | float | bool | None] = {
        "subject": "Hello",
        "attempt": 2,
        "cost_usd": 0.0123,
        "approved": True,
        "approver": None,
    }
    activity = make_activity("a-1", "2024-05-01T10:00:00Z", trace_id="exec-1", details=details)

    # When it is logged and listed
    crm.log_activity(activity)
    (loaded,) = crm.list_activities("c-1")

    # Then the details come back with the same values and types
    assert loaded.details == details
    assert isinstance(loaded.details["attempt"], int)
    assert isinstance(loaded.details["cost_usd"], float)
    assert loaded.model_dump(mode="json")["details"] == details


# -- deals -----------------------------------------------------------------------------------------


def test_deals_round_trip_per_contact(crm: CrmPort) -> None:
    # Given two deals of one contact (stored out of order) and one of another
    later = Deal(
        deal_id="d-2", contact_id="c-1", title="Renewal", stage="won", amount_cents=990_00, outcome="won"
    )
    first = Deal(
        deal_id="d-1",
        contact_id="c-1",
        title="Pilot",
        stage="proposal",
        amount_cents=12_345,
        currency="EUR",
        metrics={"seats": "12"},
    )
    crm.put_deal(later)
    crm.put_deal(first)
    crm.put_deal(Deal(deal_id="d-9", contact_id="c-2", title="Other", stage="lead", amount_cents=0))

    # When the first contact's deals are listed after one is updated
    crm.put_deal(first.model_copy(update={"stage": "negotiation"}))
    deals = crm.list_deals("c-1")

    # Then exactly that contact's deals come back, ordered by id, updated in place
    assert deals == [first.model_copy(update={"stage": "negotiation"}), later]
    assert crm.list_deals("c-nobody") == []


# -- DynamoDB specifics ----------------------------------------------------------------------------


def test_dynamodb_item_layout_matches_the_table_contract(moto_aws: None) -> None:
    # Given a contact, a deal and an activity written through the adapter
    crm = DynamoDbCrm(table_name=settings().crm_table)
    crm.put_contact(make_contact())
    crm.put_deal(Deal(deal_id="d-1", contact_id="c-1", title="Pilot", stage="lead", amount_cents=1))
    crm.log_activity(make_activity("a-1", "2024-05-01T10:00:00Z"))

    # When the raw items are read
    items = client("dynamodb").scan(TableName=settings().crm_table)["Items"]
    by_sk = {item["sk"]: item for item in map(deserialize, items)}

    # Then the keys follow the documented single-table layout
    assert set(by_sk) == {"PROFILE", "DEAL#d-1", "ACTIVITY#2024-05-01T10:00:00.000000Z#a-1", "ACTIVITYID#a-1"}
    assert {item["pk"] for item in by_sk.values()} == {"CONTACT#c-1"}
    profile = by_sk["PROFILE"]
    assert (profile["gsi1pk"], profile["gsi1sk"]) == ("EMAIL#ada@example.com", "CONTACT#c-1")
    assert "industry" not in profile  # None attributes are not stored


def test_get_crm_builds_the_dynamodb_adapter_once(moto_aws: None) -> None:
    # Given / When the factory is called twice, then after a reset
    first, second = get_crm(), get_crm()
    reset_adapters()

    # Then it is one DynamoDB adapter on the configured table, rebuilt after reset
    assert first is second
    assert isinstance(first, DynamoDbCrm)
    assert first.table_name == settings().crm_table
    assert get_crm() is not first


def test_throttled_dynamodb_call_raises_transient_error(moto_aws: None) -> None:
    # Given DynamoDB throttles the next call
    crm = DynamoDbCrm(table_name=settings().crm_table)
    with Stubber(client("dynamodb")) as stub:
        stub.add_client_error("get_item", service_error_code="ThrottlingException", http_status_code=400)

        # When a contact is read
        with pytest.raises(TransientIntegrationError) as raised:
            crm.get_contact("c-1")

    # Then the typed error names the operation and the code, and keeps the cause
    assert str(raised.value).startswith("crm.get_contact: ThrottlingException")
    assert isinstance(raised.value.__cause__, ClientError)


def test_unreachable_dynamodb_raises_transient_error(moto_aws: None) -> None:
    # Given the DynamoDB endpoint cannot be reached
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client("dynamodb").meta.events.register("before-send.dynamodb.UpdateItem", unreachable)
    crm = DynamoDbCrm(table_name=settings().crm_table)

    # When / Then a status change fails with a retryable error
    with pytest.raises(TransientIntegrationError, match=r"^crm.set_status: EndpointConnectionError"):
        crm.set_status("c-1", "contacted")


# -- error mapping ---------------------------------------------------------------------------------


def client_error(code: str, status: int, message: str = "boom") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AnyOperation")


def cancelled_transaction(*reason_codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
        "CancellationReasons": [{"Code": code} for code in reason_codes],
    }
    return ClientError(response, "TransactWriteItems")


TRANSIENT, PERMANENT = TransientIntegrationError, PermanentIntegrationError


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, TRANSIENT),
        ("ThrottlingException", 400, TRANSIENT),
        ("ProvisionedThroughputExceededException", 400, TRANSIENT),
        ("RequestLimitExceeded", 400, TRANSIENT),
        ("TooManyRequestsException", 429, TRANSIENT),
        ("InternalServerError", 500, TRANSIENT),
        ("ServiceUnavailable", 503, TRANSIENT),
        ("SlowDown", 503, TRANSIENT),
        ("SomethingOdd", 502, TRANSIENT),  # any 5xx
        ("MessageRejected", 400, PERMANENT),
        ("MailFromDomainNotVerified", 400, PERMANENT),
        ("AccountSendingPausedException", 400, PERMANENT),
        ("NoSuchKey", 404, PERMANENT),
        ("AccessDenied", 403, PERMANENT),
        ("AccessDeniedException", 400, PERMANENT),
        ("ValidationException", 400, PERMANENT),
        ("SomeOther4xx", 409, PERMANENT),  # any other 4xx
    ],
)
def test_map_client_error_classifies_by_code_and_status(
    code: str, status: int, expected: type[StepwiseError]
) -> None:
    # Given an AWS error response
    error = client_error(code, status)

    # When it is mapped for an operation
    mapped = map_client_error(error, operation="files.get_text")

    # Then it has the expected type and reads "<operation>: <code>: <message>"
    assert type(mapped) is expected
    assert str(mapped) == f"files.get_text: {code}: boom"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), TRANSIENT, id="endpoint"
        ),
        pytest.param(ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), TRANSIENT, id="read-timeout"),
        pytest.param(
            ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"), TRANSIENT, id="connect-timeout"
        ),
        pytest.param(ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"), TRANSIENT, id="closed"),
        pytest.param(NoCredentialsError(), PERMANENT, id="no-credentials"),
        pytest.param(cancelled_transaction("None", "TransactionConflict"), TRANSIENT, id="tx-conflict"),
        pytest.param(cancelled_transaction("ConditionalCheckFailed", "None"), PERMANENT, id="tx-condition"),
    ],
)
def test_map_client_error_classifies_connection_and_transaction_failures(
    error: Exception, expected: type[StepwiseError]
) -> None:
    # Given a botocore failure without (or beyond) a plain error code
    # When it is mapped
    mapped = map_client_error(error, operation="crm.log_activity")

    # Then it has the expected type and names the operation
    assert type(mapped) is expected
    assert str(mapped).startswith("crm.log_activity: ")


def test_map_client_error_message_has_operation_code_and_message_only() -> None:
    # Given a rejection whose request carried a body (never part of a ClientError's message)
    error = client_error("MessageRejected", 400, "Email address is not verified.")

    # When it is mapped
    mapped = map_client_error(error, operation="email.send")

    # Then the message reads "<operation>: <code>: <message>"
    assert str(mapped) == "email.send: MessageRejected: Email address is not verified."
