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

from functions.shared.adapters import crm_reindex, get_crm, reset_adapters
from functions.shared.adapters.dynamodb_crm import DynamoDbCrm
from functions.shared.adapters.dynamodb_items import deserialize, serialize
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
from functions.shared.ports.crm import Activity, Contact, CrmPort, Deal, RelatedParty, StatusConflict


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


def test_create_contact_writes_only_when_the_id_is_free(crm: CrmPort) -> None:
    # Given a contact created once
    first = make_contact(source="referral:run-a")
    assert crm.create_contact(first) is True

    # When another write tries to create the same id
    second = make_contact(name="Someone Else", source="referral:run-b")
    created = crm.create_contact(second)

    # Then it is refused and the first contact, with its lookups, is what stays
    assert created is False
    assert crm.get_contact("c-1") == first
    assert [c.contact_id for c in crm.find_contacts(name="Ada Lovelace")] == ["c-1"]
    assert crm.find_contacts(name="Someone Else") == []


def test_replace_contact_writes_only_over_the_expected_status(crm: CrmPort) -> None:
    # Given a disqualified contact
    crm.put_contact(make_contact(status="disqualified", source="referral:run-0"))

    # When two writers revive it, each expecting it disqualified
    first = crm.replace_contact(
        make_contact(status="new", source="referral:run-a"), expected_status="disqualified"
    )
    second = crm.replace_contact(
        make_contact(status="new", name="Other Name", source="referral:run-b"), expected_status="disqualified"
    )

    # Then only the first write happened; an unknown contact is never created this way
    assert (first, second) == (True, False)
    assert crm.get_contact("c-1") == make_contact(status="new", source="referral:run-a")
    assert crm.replace_contact(make_contact("c-9"), expected_status="new") is False
    assert crm.get_contact("c-9") is None


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


# -- finding contacts by company, name or email domain ----------------------------------------------


def _people(crm: CrmPort) -> None:
    for contact in [
        make_contact("c-1", "ada@analytical.example", name="Ada Lovelace", company="Analytical Engines Ltd"),
        make_contact(
            "c-2", "charles@analytical.example", name="Charles Babbage", company="analytical engines"
        ),
        make_contact("c-3", "ada.l@gmail.com", name="ADA  lovelace", company="Poetry Society"),
        make_contact("c-4", "grace@navy.example", name="Grace Hopper", company="Analytical"),
        make_contact("c-5", "alan@bletchley.example", name="Alan Turing", company="Analytic Engines"),
        make_contact("c-6", "joan@gmail.com", name="Joan Clarke", company="The Ltd."),  # no company key
    ]:
        crm.put_contact(contact)


def test_find_contacts_by_company_matches_normalised_names_and_longer_names(crm: CrmPort) -> None:
    # Given contacts at "Analytical Engines Ltd", "analytical engines", "Analytical" and "Analytic Engines"
    _people(crm)

    # When contacts are found by company
    engines = crm.find_contacts(company="ANALYTICAL ENGINES, Inc.")
    analytical = crm.find_contacts(company="Analytical")

    # Then suffixes, case and punctuation are ignored, one name may extend the other, and
    # a different first word ("Analytic") or nothing but suffixes never matches
    assert [c.contact_id for c in engines] == ["c-1", "c-2", "c-4"]
    assert [c.contact_id for c in analytical] == ["c-1", "c-2", "c-4"]
    assert [c.contact_id for c in crm.find_contacts(company="Analytical Instruments")] == ["c-4"]
    assert crm.find_contacts(company="Ltd") == []
    assert engines[0] == make_contact(
        "c-1", "ada@analytical.example", name="Ada Lovelace", company="Analytical Engines Ltd"
    )


def test_find_contacts_by_name_or_domain_and_any_of_several_keys(crm: CrmPort) -> None:
    # Given the same people
    _people(crm)

    # When contacts are found by name, by email domain, by both, and by nothing
    by_name = crm.find_contacts(name="ada lovelace")
    by_domain = crm.find_contacts(email_domain="Analytical.example")
    either = crm.find_contacts(name="Grace Hopper", email_domain="bletchley.example", company="nobody here")

    # Then names compare normalised, domains case-insensitively, several keys are a union,
    # a public mailbox domain matches nobody and no key finds nothing
    assert [c.contact_id for c in by_name] == ["c-1", "c-3"]
    assert [c.contact_id for c in by_domain] == ["c-1", "c-2"]
    assert [c.contact_id for c in either] == ["c-4", "c-5"]
    assert crm.find_contacts(email_domain="gmail.com") == []
    assert crm.find_contacts() == []


def test_find_contacts_follows_a_change_of_company(crm: CrmPort) -> None:
    # Given a contact who moves from one company to another
    _people(crm)
    moved = make_contact(
        "c-2", "charles@difference.example", name="Charles Babbage", company="Difference Ltd"
    )
    crm.put_contact(moved)

    # When both companies are searched
    old = crm.find_contacts(company="Analytical Engines")
    new = crm.find_contacts(company="difference")

    # Then the contact is only found at the new one, and not by the old domain either
    assert [c.contact_id for c in old] == ["c-1", "c-4"]
    assert new == [moved]
    assert [c.contact_id for c in crm.find_contacts(email_domain="analytical.example")] == ["c-1"]


#: "Sam Lee" and "ACME" in full-width letters (U+FF21...), escaped: they look like ASCII in an editor.
FULL_WIDTH_SAM_LEE = "\uff33\uff41\uff4d \uff2c\uff45\uff45"
FULL_WIDTH_ACME = "\uff21\uff23\uff2d\uff25"


def test_find_contacts_matches_names_in_any_script(crm: CrmPort) -> None:
    # Given contacts whose names and companies are not written in ASCII letters
    crm.put_contact(make_contact("u-1", "li.ming@163.com", name="李明", company="北京科技有限公司"))
    crm.put_contact(make_contact("u-2", "jm@mueller.example", name="Jörg Müller", company="Müller GmbH"))
    crm.put_contact(
        make_contact("u-3", "x@wide.example", name=FULL_WIDTH_SAM_LEE, company=f"{FULL_WIDTH_ACME} Ltd")
    )

    # When they are found by the same words, cased and spaced differently
    by_name = crm.find_contacts(name="李明")
    by_company = crm.find_contacts(company="MÜLLER")
    by_width = crm.find_contacts(name="sam lee", company="acme")

    # Then Unicode letters count as letters (not as punctuation to drop), and full-width forms
    # equal plain ones
    assert [c.contact_id for c in by_name] == ["u-1"]
    assert [c.contact_id for c in by_company] == ["u-2"]
    assert [c.contact_id for c in by_width] == ["u-3"]
    assert crm.find_contacts(name="Jorg Muller") == []  # accents are kept: the model decides fuzzier cases


def test_find_contacts_limit_keeps_the_first_by_id(crm: CrmPort) -> None:
    _people(crm)
    assert [c.contact_id for c in crm.find_contacts(company="analytical", limit=2)] == ["c-1", "c-2"]
    assert [c.contact_id for c in crm.find_contacts(company="analytical", limit=10)] == ["c-1", "c-2", "c-4"]


def test_find_contacts_returns_the_current_status(crm: CrmPort) -> None:
    # Given a contact whose status changes after it was written
    _people(crm)
    crm.set_status("c-4", "do_not_contact")

    # When it is found by company
    [found] = [c for c in crm.find_contacts(company="analytical") if c.contact_id == "c-4"]

    # Then the status and flag are today's (a find never returns a stale profile)
    assert (found.status, found.do_not_contact) == ("do_not_contact", True)


# -- related parties -------------------------------------------------------------------------------


def test_related_parties_are_found_by_name_and_removed_by_their_record(crm: CrmPort) -> None:
    # Given two clients whose matters are against "Pinecrest Supply Co." and one against someone else
    crm.relate_party(
        RelatedParty(contact_id="c-1", party="Pinecrest Supply Co.", relation="adverse", ref="M-1")
    )
    crm.relate_party(RelatedParty(contact_id="c-2", party="PINECREST SUPPLY", relation="adverse", ref="M-2"))
    crm.relate_party(RelatedParty(contact_id="c-2", party="Harborline", relation="adverse", ref="M-2"))
    crm.relate_party(
        RelatedParty(contact_id="c-1", party="Pinecrest Supply Co.", relation="adverse", ref="M-1")
    )

    # When the party is looked up, then one matter's relationships are removed
    before = crm.find_related("Pinecrest Supply Ltd")
    crm.unrelate_parties("c-2", "M-2")
    after = crm.find_related("pinecrest supply")

    # Then names match on their normalised key, a repeated write is one relationship, and removing
    # a record removes only its relationships
    assert [(r.contact_id, r.ref, r.party) for r in before] == [
        ("c-1", "M-1", "Pinecrest Supply Co."),
        ("c-2", "M-2", "PINECREST SUPPLY"),
    ]
    assert [(r.contact_id, r.ref) for r in after] == [("c-1", "M-1")]
    assert crm.find_related("Harborline") == []
    assert crm.find_related("Pinecrest Foods") == []
    assert crm.find_related("Ltd.") == []
    # and, as for companies, one name may be the other plus more words
    assert [r.ref for r in crm.find_related("Pinecrest")] == ["M-1"]
    assert [r.ref for r in crm.find_related("Pinecrest Supply Company of Ohio")] == ["M-1"]


def test_a_party_without_a_name_to_match_on_is_refused(crm: CrmPort) -> None:
    with pytest.raises(BusinessRuleError, match="no name to match on"):
        crm.relate_party(RelatedParty(contact_id="c-1", party="Ltd.", relation="adverse", ref="M-1"))


# -- status ----------------------------------------------------------------------------------------


def test_client_touches_list_every_client_once_with_its_latest_activity(crm: CrmPort) -> None:
    # Given clients with and without activities, a dormant one, and contacts that are not clients
    crm.put_contact(make_contact("c-1", "one@x.example", status="client"))
    crm.put_contact(make_contact("c-2", "two@x.example", status="dormant"))
    crm.put_contact(make_contact("c-3", "three@x.example", status="new"))
    crm.put_contact(make_contact("c-4", "four@x.example", status="client"))
    crm.put_contact(make_contact("c-5", "five@x.example", status="disqualified"))
    crm.log_activity(make_activity("a-1", "2024-05-02T10:00:00Z", contact_id="c-1"))
    crm.log_activity(make_activity("a-2", "2025-01-09T10:00:00+02:00", contact_id="c-1"))
    crm.log_activity(make_activity("a-3", "2024-12-01T00:00:00Z", contact_id="c-1"))
    crm.log_activity(make_activity("a-4", "2024-06-01T00:00:00Z", contact_id="c-3"))

    # When the whole client base is listed, in one part and in three
    whole = crm.list_client_touches()
    parts = [t for segment in range(3) for t in crm.list_client_touches(segment=segment, segments=3)]

    # Then each client appears once, by id, with its latest activity (None without any)
    assert [(t.contact.contact_id, t.last_activity_at) for t in whole] == [
        ("c-1", "2025-01-09T10:00:00+02:00"),
        ("c-2", None),
        ("c-4", None),
    ]
    assert sorted(t.contact.contact_id for t in parts) == ["c-1", "c-2", "c-4"]


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
    assert set(by_sk) == {
        "PROFILE",
        "LOOKUP#COMPANY",
        "LOOKUP#NAME",
        "LOOKUP#DOMAIN",
        "DEAL#d-1",
        "ACTIVITY#2024-05-01T10:00:00.000000Z#a-1",
        "ACTIVITYID#a-1",
    }
    assert {item["pk"] for item in by_sk.values()} == {"CONTACT#c-1"}
    profile = by_sk["PROFILE"]
    assert (profile["gsi1pk"], profile["gsi1sk"]) == ("EMAIL#ada@example.com", "CONTACT#c-1")
    lookups = {sk: (by_sk[sk]["gsi2pk"], by_sk[sk]["gsi2sk"]) for sk in by_sk if sk.startswith("LOOKUP#")}
    assert lookups == {
        "LOOKUP#COMPANY": ("COMPANY#analytical", "analytical engines"),
        "LOOKUP#NAME": ("NAME#ada lovelace", "ada lovelace"),
        "LOOKUP#DOMAIN": ("DOMAIN#example.com", "example.com"),
    }
    assert set(by_sk["LOOKUP#NAME"]) == {"pk", "sk", "gsi2pk", "gsi2sk"}  # keys only: nothing to keep current
    assert "industry" not in profile  # None attributes are not stored


def _put_old_profile(contact: Contact) -> None:
    """A profile as versions before the lookup index wrote it: the item alone, no LOOKUP# items."""
    item = {
        "pk": f"CONTACT#{contact.contact_id}",
        "sk": "PROFILE",
        "gsi1pk": f"EMAIL#{contact.email.lower()}",
        "gsi1sk": f"CONTACT#{contact.contact_id}",
        **contact.model_dump(exclude_none=True),
    }
    client("dynamodb").put_item(TableName=settings().crm_table, Item=serialize(item))


def test_find_contacts_rechecks_index_hits_on_the_profile(moto_aws: None) -> None:
    # Given index entries that do not say the truth (the index lags behind the table): a contact
    # whose profile moved from Acme to Zeta while its lookup still says Acme, and a lookup for a
    # contact that does not exist
    crm = DynamoDbCrm(table_name=settings().crm_table)
    crm.put_contact(make_contact("c-1", company="Acme"))
    _put_old_profile(make_contact("c-1", company="Zeta Holdings"))  # the profile alone
    ghost = {"pk": "CONTACT#c-ghost", "sk": "LOOKUP#COMPANY", "gsi2pk": "COMPANY#acme", "gsi2sk": "acme"}
    client("dynamodb").put_item(TableName=settings().crm_table, Item=serialize(ghost))

    # When contacts at Acme are found
    found = crm.find_contacts(company="Acme")

    # Then neither entry becomes a result: hits are matched again on the profile as read now
    assert found == []


def test_a_lookup_the_contact_no_longer_has_is_deleted(moto_aws: None) -> None:
    # Given a contact with a company email address, who moves to a gmail.com address
    crm = DynamoDbCrm(table_name=settings().crm_table)
    crm.put_contact(make_contact("c-1", "ada@analytical.example"))
    crm.put_contact(make_contact("c-1", "ada@gmail.com"))

    # When the contact's items are read
    items = client("dynamodb").query(
        TableName=settings().crm_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :lookup)",
        ExpressionAttributeValues=serialize({":pk": "CONTACT#c-1", ":lookup": "LOOKUP#"}),
    )["Items"]

    # Then its domain lookup is gone, not left behind for every later search to read
    assert sorted(deserialize(i)["sk"] for i in items) == ["LOOKUP#COMPANY", "LOOKUP#NAME"]


def test_find_contacts_finds_very_long_names_through_the_cut_index_key(moto_aws: None) -> None:
    # Given two contacts whose company names differ only after 1,000 characters
    crm = DynamoDbCrm(table_name=settings().crm_table)
    crm.put_contact(make_contact("c-1", "a@one.example", company="acme " + "x" * 1200))
    crm.put_contact(make_contact("c-2", "b@two.example", company="acme " + "x" * 1100 + " y"))

    # When one of them is searched by its full company name
    found = crm.find_contacts(company="acme " + "x" * 1200)

    # Then the cut index key finds both candidates and the full comparison keeps the right one
    assert [c.contact_id for c in found] == ["c-1"]


def test_find_contacts_retries_keys_batch_get_left_unprocessed(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three contacts at one company, and a BatchGetItem that processes one key per call
    crm = DynamoDbCrm(table_name=settings().crm_table)
    for n in range(3):
        crm.put_contact(make_contact(f"c-{n}", f"p{n}@acme.example", company="Acme"))
    ddb = client("dynamodb")
    real = ddb.batch_get_item
    requests: list[int] = []

    def one_at_a_time(RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        requests.append(len(request["Keys"]))
        first, rest = request["Keys"][:1], request["Keys"][1:]
        response: dict[str, Any] = real(RequestItems={table: {**request, "Keys": first}})
        response["UnprocessedKeys"] = {table: {**request, "Keys": rest}} if rest else {}
        return response

    monkeypatch.setattr(ddb, "batch_get_item", one_at_a_time)
    monkeypatch.setattr("functions.shared.adapters.dynamodb_crm.time.sleep", lambda _: None)

    # When they are found by company
    found = crm.find_contacts(company="acme")

    # Then every key was asked again until read
    assert [c.contact_id for c in found] == ["c-0", "c-1", "c-2"]
    assert requests == [3, 2, 1]


def test_find_contacts_gives_up_on_keys_left_unprocessed_with_a_transient_error(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a BatchGetItem that never processes anything (throttled for good)
    crm = DynamoDbCrm(table_name=settings().crm_table)
    crm.put_contact(make_contact("c-1", company="Acme"))
    ddb = client("dynamodb")
    monkeypatch.setattr(
        ddb, "batch_get_item", lambda RequestItems: {"Responses": {}, "UnprocessedKeys": RequestItems}
    )
    monkeypatch.setattr("functions.shared.adapters.dynamodb_crm.time.sleep", lambda _: None)

    # When contacts are found, then the step sees a retryable error instead of a short list
    with pytest.raises(TransientIntegrationError, match="unprocessed"):
        crm.find_contacts(company="acme")


def test_reindex_makes_contacts_stored_before_the_index_findable(moto_aws: None) -> None:
    # Given two profiles written by an older version (no lookup items) and one written now
    crm = DynamoDbCrm(table_name=settings().crm_table)
    _put_old_profile(make_contact("c-1", "ada@analytical.example", company="Analytical Engines"))
    _put_old_profile(make_contact("c-2", "ada.l@gmail.com", company="Analytical Engines"))
    crm.put_contact(
        make_contact("c-3", "grace@analytical.example", name="Grace Hopper", company="Analytical")
    )
    assert [c.contact_id for c in crm.find_contacts(company="analytical")] == ["c-3"]

    # When the reindex runs, twice
    written = crm_reindex.reindex_lookups(settings().crm_table).written
    again = crm_reindex.reindex_lookups(settings().crm_table).written

    # Then every contact is found by its company, name and domain, and a second run changes nothing
    assert (written, again) == (3, 3)
    assert [c.contact_id for c in crm.find_contacts(company="analytical")] == ["c-1", "c-2", "c-3"]
    assert [c.contact_id for c in crm.find_contacts(name="ada lovelace")] == ["c-1", "c-2"]
    assert [c.contact_id for c in crm.find_contacts(email_domain="analytical.example")] == ["c-1", "c-3"]
    lookups = [
        i
        for i in client("dynamodb").scan(TableName=settings().crm_table)["Items"]
        if i["sk"]["S"].startswith("LOOKUP#")
    ]
    assert len(lookups) == 3 + 2 + 3  # c-2's gmail.com address has no domain lookup


def test_reindex_skips_a_contact_changed_while_it_ran(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an old profile that moves to another company between the reindex's read and its write
    crm = DynamoDbCrm(table_name=settings().crm_table)
    _put_old_profile(make_contact("c-1", company="Analytical Engines"))
    ddb = client("dynamodb")
    real = ddb.transact_write_items
    moved = make_contact("c-1", company="Difference Ltd")

    def move_first(TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        monkeypatch.setattr(ddb, "transact_write_items", real)
        crm.put_contact(moved)  # the concurrent update, with its own lookups
        response: dict[str, Any] = real(TransactItems=TransactItems)
        return response

    monkeypatch.setattr(ddb, "transact_write_items", move_first)

    # When the reindex runs
    report = crm_reindex.reindex_lookups(settings().crm_table)

    # Then the concurrent update's lookups stand: nothing stale was written over them
    assert (report.written, report.changed) == (0, 1)
    assert crm.find_contacts(company="analytical") == []
    assert crm.find_contacts(company="difference") == [moved]


def test_reindex_command_reports_what_it_wrote(moto_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an old profile
    _put_old_profile(make_contact("c-1", company="Analytical Engines"))

    # When the reindex command runs on the CRM table
    code = crm_reindex.main(["--table", settings().crm_table])

    # Then it says how many contacts it indexed, and the contact is findable
    assert code == 0
    assert capsys.readouterr().out.strip() == (
        f"{settings().crm_table}: lookup items written for 1 contact(s); "
        "0 changed meanwhile (their own write indexed them); 0 invalid profile(s) skipped"
    )
    assert [c.contact_id for c in get_crm().find_contacts(company="analytical engines")] == ["c-1"]


def test_reindex_skips_an_invalid_profile_names_it_and_exits_non_zero(
    moto_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an old profile with an email no Contact accepts, next to a valid one
    _put_old_profile(make_contact("c-1", company="Analytical Engines"))
    bad = {
        "pk": "CONTACT#c-bad",
        "sk": "PROFILE",
        "contact_id": "c-bad",
        "email": "nope",
        "name": "X",
        "company": "Y",
    }
    client("dynamodb").put_item(TableName=settings().crm_table, Item=serialize(bad))

    # When the reindex command runs
    code = crm_reindex.main(["--table", settings().crm_table])

    # Then the valid one is indexed, the invalid one is named, and the exit code says so
    assert code == 1
    out = capsys.readouterr().out
    assert "written for 1 contact(s)" in out
    assert "1 invalid profile(s) skipped: CONTACT#c-bad" in out


def test_reindex_retries_a_contended_contact(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an old profile, and a first transaction DynamoDB cancels for a conflicting write
    _put_old_profile(make_contact("c-1", company="Analytical Engines"))
    ddb = client("dynamodb")
    real = ddb.transact_write_items
    attempts: list[int] = []

    def conflict_once(TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        attempts.append(len(TransactItems))
        if len(attempts) == 1:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        response: dict[str, Any] = real(TransactItems=TransactItems)
        return response

    monkeypatch.setattr(ddb, "transact_write_items", conflict_once)
    monkeypatch.setattr("functions.shared.adapters.crm_reindex.time.sleep", lambda _: None)

    # When the reindex runs
    report = crm_reindex.reindex_lookups(settings().crm_table)

    # Then the contact was written on the second attempt
    assert report.written == 1
    assert len(attempts) == 2
    assert [c.contact_id for c in get_crm().find_contacts(company="analytical")] == ["c-1"]


def test_find_contacts_reads_only_the_first_limit_matches(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 250 contacts at one company (more than one BatchGetItem holds)
    crm = DynamoDbCrm(table_name=settings().crm_table)
    for n in range(250):
        crm.put_contact(make_contact(f"c-{n:03d}", f"p{n}@bigcorp.example", company="Big Corp"))
    ddb = client("dynamodb")
    real = ddb.batch_get_item
    keys_read: list[int] = []

    def counting(RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys_read.append(sum(len(r["Keys"]) for r in RequestItems.values()))
        response: dict[str, Any] = real(RequestItems=RequestItems)
        return response

    monkeypatch.setattr(ddb, "batch_get_item", counting)

    # When all of them are found, then the first ten
    everyone = crm.find_contacts(company="big corp")
    first_ten = crm.find_contacts(company="big corp", limit=10)

    # Then all 250 came back in id order through three batches, and the ten read ten profiles
    assert [c.contact_id for c in everyone] == [f"c-{n:03d}" for n in range(250)]
    assert first_ten == everyone[:10]
    assert keys_read == [100, 100, 50, 10]


def test_find_contacts_by_company_reads_only_that_companys_index_entries(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 40 contacts at companies that share the first word "global", one at "Global Logistics"
    crm = DynamoDbCrm(table_name=settings().crm_table)
    for n in range(40):
        crm.put_contact(make_contact(f"g-{n:02d}", f"p{n}@global{n}.example", company=f"Global Foods {n}"))
    crm.put_contact(make_contact("g-99", "pat@global-logistics.example", company="Global Logistics Ltd"))
    ddb = client("dynamodb")
    real = ddb.query
    entries_read: list[int] = []

    def counting(**kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = real(**kwargs)
        entries_read.append(response["Count"])
        return response

    monkeypatch.setattr(ddb, "query", counting)

    # When contacts at "Global Logistics" are found
    found = crm.find_contacts(company="global logistics")

    # Then only its own entry was read, not the 40 other "global" companies'
    assert [c.contact_id for c in found] == ["g-99"]
    assert sum(entries_read) == 1


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
