"""The local runtime's index queries (``MotoPatches._query_one_index_group``) answer as moto does.

moto's index query sorts and tests every item of the table; the patch hands it only the items
with the queried hash key value, grouped once until the table's next write. These scenarios
replay the same writes and queries on plain moto and on the patched one and compare every answer.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.patches import MotoPatches

REGION = "us-east-1"
CONTACTS = ["CONTACT#1", "CONTACT#2", "CONTACT#3"]
OWNERS = ["OWNER#a", "OWNER#b"]
SCORES = ["1", "2", "2.0", "3", "10"]


def _create_tables(dynamodb: Any) -> None:
    s, n = "S", "N"
    dynamodb.create_table(
        TableName="calendar",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (("pk", s), ("sk", s), ("gsi1pk", s), ("gsi3pk", s), ("gsi3sk", s), ("n", n))
        ],
        GlobalSecondaryIndexes=[
            {  # a contact's history: sparse (only events with a contact), sorted by its own key
                "IndexName": "gsi3",
                "KeySchema": [
                    {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi3sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {  # no sort key of its own: the table's keys order it
                "IndexName": "gsi1",
                "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {  # a number hash key ("2" and "2.0" are one value)
                "IndexName": "by_n",
                "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(  # a table without a sort key keeps one item per hash key
        TableName="contacts",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": s},
            {"AttributeName": "email", "AttributeType": s},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _event(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"EVENT#{rng.randrange(8)}"},
        "sk": {"S": rng.choice(["EVENT", "NOTE"])},
    }
    if rng.random() < 0.7:  # sparse: about a third of the events have no contact
        item["gsi3pk"] = {"S": rng.choice(CONTACTS)}
        if rng.random() < 0.9:  # an item without the index's sort key is not in the index
            item["gsi3sk"] = {"S": f"2027-0{rng.randrange(1, 4)}-1{rng.randrange(4)}#{rng.randrange(9)}"}
    if rng.random() < 0.8:
        item["gsi1pk"] = {"S": rng.choice(OWNERS)}
    if rng.random() < 0.5:
        item["n"] = {"N": rng.choice(SCORES)}
    item["status"] = {"S": rng.choice(["scheduled", "no_show", "attended"])}
    return item


def _key(rng: random.Random) -> dict[str, Any]:
    return {"pk": {"S": f"EVENT#{rng.randrange(8)}"}, "sk": {"S": rng.choice(["EVENT", "NOTE"])}}


def _update(rng: random.Random) -> dict[str, Any]:
    """An update of one event; most of them move it to another contact, owner or score."""
    choice = rng.choice([0, 0, 0, 1, 2, 3, 4])
    if choice == 0:
        return {
            "UpdateExpression": "SET gsi3pk = :c, gsi3sk = if_not_exists(gsi3sk, :s)",
            "ExpressionAttributeValues": {":c": {"S": rng.choice(CONTACTS)}, ":s": {"S": "2027-01-20"}},
        }
    if choice == 1:
        return {"UpdateExpression": "REMOVE gsi3pk, gsi1pk"}
    if choice == 2:
        return {
            "UpdateExpression": "SET gsi1pk = :o, gsi3sk = :s",
            "ExpressionAttributeValues": {
                ":o": {"S": rng.choice(OWNERS)},
                ":s": {"S": f"2027-09-0{rng.randrange(9)}"},
            },
        }
    if choice == 3:
        return {
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": rng.choice(SCORES)}},
        }
    return {
        "UpdateExpression": "SET #s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "attended"}},
    }


def _query(rng: random.Random) -> dict[str, Any]:
    index = rng.choice(["gsi3", "gsi3", "gsi3", "gsi1", "by_n", "by_email"])
    query: dict[str, Any]
    if index == "gsi3":
        query = {
            "KeyConditionExpression": "gsi3pk = :h",
            "ExpressionAttributeValues": {":h": {"S": rng.choice(CONTACTS)}},
        }
        if rng.random() < 0.25:
            query["KeyConditionExpression"] += " AND gsi3sk BETWEEN :a AND :b"
            query["ExpressionAttributeValues"] |= {":a": {"S": "2027-01"}, ":b": {"S": "2027-02-13"}}
        elif rng.random() < 0.3:
            query["KeyConditionExpression"] += " AND begins_with(gsi3sk, :p)"
            query["ExpressionAttributeValues"] |= {":p": {"S": "2027-0" + str(rng.randrange(1, 4))}}
        if rng.random() < 0.3:
            query["FilterExpression"] = "#s = :st"
            query["ExpressionAttributeNames"] = {"#s": "status"}
            query["ExpressionAttributeValues"] |= {":st": {"S": "no_show"}}
    elif index == "gsi1":
        query = {
            "KeyConditionExpression": "gsi1pk = :h",
            "ExpressionAttributeValues": {":h": {"S": rng.choice(OWNERS)}},
        }
    elif index == "by_n":
        query = {
            "KeyConditionExpression": "n = :h",
            "ExpressionAttributeValues": {":h": {"N": rng.choice(SCORES)}},
        }
    else:
        email = f"c{rng.randrange(4)}@clients.example"
        query = {"KeyConditionExpression": "email = :h", "ExpressionAttributeValues": {":h": {"S": email}}}
    table = "contacts" if index == "by_email" else "calendar"
    return {"TableName": table, "IndexName": index, "ScanIndexForward": rng.random() < 0.6, **query}


def _read_pages(dynamodb: Any, query: dict[str, Any], page_size: int | None) -> list[dict[str, Any]]:
    """Every page of ``query`` (``Limit`` + ``ExclusiveStartKey`` when ``page_size``), as answered."""
    pages, start = [], None
    while True:
        page = dynamodb.query(
            **query,
            **({"Limit": page_size} if page_size else {}),
            **({"ExclusiveStartKey": start} if start else {}),
        )
        pages.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _cancelled_unless_missing_event_exists() -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": "calendar",
            "Key": {"pk": {"S": "EVENT#missing"}, "sk": {"S": "EVENT"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


def _transaction(rng: random.Random) -> dict[str, Any]:
    operations: list[dict[str, Any]] = [
        {"Put": {"TableName": "calendar", "Item": _event(rng)}},
        {"Update": {"TableName": "calendar", "Key": _key(rng), **_update(rng)}},
        {"Delete": {"TableName": "contacts", "Key": {"pk": {"S": f"C#{rng.randrange(6)}"}}}},
    ]
    if rng.random() < 0.4:  # cancelled: every write of it is undone
        operations.append(_cancelled_unless_missing_event_exists())
    return {"TransactItems": operations}


def _batch(rng: random.Random) -> dict[str, Any]:
    requests: dict[tuple[str, str], dict[str, Any]] = {}  # one request per key, as DynamoDB asks
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.7:
            item = _event(rng)
            requests[(item["pk"]["S"], item["sk"]["S"])] = {"PutRequest": {"Item": item}}
        else:
            key = _key(rng)
            requests[(key["pk"]["S"], key["sk"]["S"])] = {"DeleteRequest": {"Key": key}}
    return {"RequestItems": {"calendar": list(requests.values())}}


def _contact(rng: random.Random) -> dict[str, Any]:
    contact = {"pk": {"S": f"C#{rng.randrange(6)}"}}
    if rng.random() < 0.8:
        contact["email"] = {"S": f"c{rng.randrange(4)}@clients.example"}
    return {"TableName": "contacts", "Item": contact}


#: Each kind of call: (client method, its arguments from the random source, how often).
_CALLS: dict[str, tuple[str, Callable[[random.Random], dict[str, Any]], int]] = {
    "put": (
        "put_item",
        lambda rng: {"TableName": "calendar", "Item": _event(rng), "ReturnValues": "ALL_OLD"},
        2,
    ),
    "update": (
        "update_item",
        lambda rng: {"TableName": "calendar", "Key": _key(rng), "ReturnValues": "ALL_NEW", **_update(rng)},
        6,
    ),
    "delete": (
        "delete_item",
        lambda rng: {"TableName": "calendar", "Key": _key(rng), "ReturnValues": "ALL_OLD"},
        1,
    ),
    "contact": ("put_item", _contact, 1),
    "new email": (
        "update_item",
        lambda rng: {
            "TableName": "contacts",
            "Key": {"pk": {"S": f"C#{rng.randrange(6)}"}},
            "UpdateExpression": "SET email = :e",
            "ExpressionAttributeValues": {":e": {"S": f"c{rng.randrange(4)}@clients.example"}},
        },
        1,
    ),
    "transact": ("transact_write_items", _transaction, 2),
    "batch": ("batch_write_item", _batch, 1),
    "query": ("query", lambda rng: {"query": _query(rng), "page_size": rng.choice([None, 1, 2, 3])}, 8),
}


def _answer(dynamodb: Any, method: str, arguments: dict[str, Any]) -> Any:
    try:
        if method == "query":
            return _read_pages(dynamodb, **arguments)
        answer = getattr(dynamodb, method)(**arguments)
    except ClientError as error:
        return ("error", error.response["Error"]["Code"], error.response["Error"]["Message"])
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def _random_day(dynamodb: Any, seed: int, steps: int) -> list[Any]:
    """``steps`` random writes of every kind with index queries between them; every answer, in order."""
    rng, answers = random.Random(seed), []
    kinds = list(_CALLS)
    for _ in range(steps):
        method, arguments, _weight = _CALLS[rng.choices(kinds, [_CALLS[k][2] for k in kinds])[0]]
        call = arguments(rng)
        answer = _answer(dynamodb, method, call)
        answers.append(answer)
        if method != "query":  # the histories the write may have changed, read at once
            for contact in _contacts_touched(call, answer) or [rng.choice(CONTACTS)]:
                answers.append(
                    _answer(dynamodb, "query", {"query": _history_query(contact), "page_size": None})
                )
    for contact in CONTACTS:  # and at the end, every contact's whole history, both ways
        for forward in (True, False):
            answers.append(
                _answer(dynamodb, "query", {"query": _history_query(contact, forward), "page_size": 2})
            )
    return answers


def _contacts_touched(call: dict[str, Any], answer: Any) -> list[str]:
    """The contacts of the event a put, update or delete wrote, before and after it."""
    found = [
        values.get("gsi3pk") or values.get(":c")
        for values in (
            call.get("Item", {}),
            call.get("ExpressionAttributeValues", {}),
            answer.get("Attributes", {}) if isinstance(answer, dict) else {},
        )
    ]
    return sorted({value["S"] for value in found if value})


def _history_query(contact: str, forward: bool = True) -> dict[str, Any]:
    return {
        "TableName": "calendar",
        "IndexName": "gsi3",
        "KeyConditionExpression": "gsi3pk = :h",
        "ExpressionAttributeValues": {":h": {"S": contact}},
        "ScanIndexForward": forward,
    }


def _answers(seed: int, steps: int, *, patched: bool) -> list[Any]:
    with mock_aws():
        patches = MotoPatches(invoke=lambda *_: b"{}")
        if patched:
            patches.apply()
        try:
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            _create_tables(dynamodb)
            return _random_day(dynamodb, seed, steps)
        finally:
            patches.undo()


@pytest.fixture
def patched() -> Iterator[Any]:
    with mock_aws():
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            _create_tables(dynamodb)
            yield dynamodb
        finally:
            patches.undo()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_and_index_queries_answer_exactly_as_moto_does_page_by_page(seed: int) -> None:
    expected = _answers(seed, 250, patched=False)
    answers = _answers(seed, 250, patched=True)
    assert sum(1 for a in expected if isinstance(a, list) and a[0]["Items"]) > 40  # real answers compared
    assert any(isinstance(a, tuple) and a[1] == "TransactionCanceledException" for a in expected)
    assert answers == expected


def _history(dynamodb: Any, contact: str) -> list[str]:
    items = dynamodb.query(
        TableName="calendar",
        IndexName="gsi3",
        KeyConditionExpression="gsi3pk = :h",
        ExpressionAttributeValues={":h": {"S": contact}},
    )["Items"]
    return [item["pk"]["S"] for item in items]


def _put_event(dynamodb: Any, event: str, contact: str | None, day: str) -> None:
    item = {"pk": {"S": event}, "sk": {"S": "EVENT"}, "gsi3sk": {"S": day}}
    if contact is not None:
        item["gsi3pk"] = {"S": contact}
    dynamodb.put_item(TableName="calendar", Item=item)


def test_an_event_moved_to_another_contact_leaves_the_first_contacts_history_at_once(patched: Any) -> None:
    _put_event(patched, "EVENT#1", "CONTACT#1", "2027-01-10")
    _put_event(patched, "EVENT#2", "CONTACT#1", "2027-01-05")
    _put_event(patched, "EVENT#3", None, "2027-01-01")  # no contact: in no history
    assert _history(patched, "CONTACT#1") == ["EVENT#2", "EVENT#1"]

    patched.update_item(  # moto changes the stored item in place
        TableName="calendar",
        Key={"pk": {"S": "EVENT#1"}, "sk": {"S": "EVENT"}},
        UpdateExpression="SET gsi3pk = :c",
        ExpressionAttributeValues={":c": {"S": "CONTACT#2"}},
    )
    assert _history(patched, "CONTACT#1") == ["EVENT#2"]
    assert _history(patched, "CONTACT#2") == ["EVENT#1"]

    with pytest.raises(ClientError, match="TransactionCanceled"):  # undone item by item
        patched.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "calendar",
                        "Key": {"pk": {"S": "EVENT#2"}, "sk": {"S": "EVENT"}},
                        "UpdateExpression": "SET gsi3pk = :c",
                        "ExpressionAttributeValues": {":c": {"S": "CONTACT#2"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": "calendar",
                        "Key": {"pk": {"S": "EVENT#9"}, "sk": {"S": "EVENT"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert _history(patched, "CONTACT#1") == ["EVENT#2"]
    assert _history(patched, "CONTACT#2") == ["EVENT#1"]

    patched.delete_item(TableName="calendar", Key={"pk": {"S": "EVENT#2"}, "sk": {"S": "EVENT"}})
    assert _history(patched, "CONTACT#1") == []


def test_a_contacts_history_in_a_large_table_compares_only_that_contacts_events(
    patched: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for n in range(300):
        _put_event(patched, f"EVENT#{n:03}", f"CONTACT#{n % 100}", f"2027-01-{n // 100 + 1:02}")
    assert _history(patched, "CONTACT#7") == ["EVENT#007", "EVENT#107", "EVENT#207"]  # groups built

    compared, original = [], DynamoType.__eq__

    def counting(self: Any, other: Any) -> bool:
        compared.append(self)
        return original(self, other)

    monkeypatch.setattr(DynamoType, "__eq__", counting)
    assert _history(patched, "CONTACT#42") == ["EVENT#042", "EVENT#142", "EVENT#242"]
    assert len(compared) < 30  # the contact's three events, not the table's 300


def test_histories_read_by_many_threads_at_once_are_each_the_contacts_own(patched: Any) -> None:
    for n in range(200):
        _put_event(patched, f"EVENT#{n:03}", f"CONTACT#{n % 20}", f"2027-02-{n % 28 + 1:02}")
    expected = {
        f"CONTACT#{c}": sorted(
            (f"EVENT#{n:03}" for n in range(c, 200, 20)), key=lambda e: (int(e[-3:]) % 28, e)
        )
        for c in range(20)
    }
    found: dict[str, list[str]] = {}

    def read(contact: str) -> None:
        found[contact] = _history(patched, contact)

    threads = [threading.Thread(target=read, args=(contact,)) for contact in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == expected
