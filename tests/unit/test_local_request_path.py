"""The local runtime's shortcuts through boto3 and moto keep what a caller can observe.

Each patch in ``local/patches.py`` that makes a call cheaper (no SigV4 signature, the
interpreter's Lambda tasks called directly, URL tables and update expressions built once,
expression trees traversed by type, a cancelled transaction undone item by item, a query that
reads one partition) is checked here against the behaviour it must keep.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.patches import BACKEND_URLS, INTERNALS, MotoPatches, _parser_modules_using_boto_client, resolve

REGION = "us-east-1"
_REAL_SIGNATURE = re.compile(r"Signature=[0-9a-f]{64}$")
ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def patched() -> Iterator[MotoPatches]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # as LocalRuntime
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            yield patches
        finally:
            patches.undo()


def _sent_headers(client: Any) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        seen.append({k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    client.meta.events.register("before-send", record)
    return seen


def test_api_calls_carry_a_stand_in_signature_but_s3_and_presigned_urls_are_signed(
    patched: MotoPatches,
) -> None:
    dynamodb, s3 = boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
    dynamodb_headers, s3_headers = _sent_headers(dynamodb), _sent_headers(s3)
    _table(dynamodb, "t")
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    s3.create_bucket(Bucket="private-files")
    s3.put_object(Bucket="private-files", Key="k", Body=b"body")

    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    assert s3.get_object(Bucket="private-files", Key="k")["Body"].read() == b"body"  # not anonymous
    stand_in = [headers["Authorization"] for headers in dynamodb_headers]
    access_key = dynamodb._request_signer._credentials.access_key
    assert all(value.endswith("Signature=0") for value in stand_in)
    assert all(
        f"Credential={access_key}/20000101/{REGION}/dynamodb/aws4_request" in value for value in stand_in
    )
    assert all(_REAL_SIGNATURE.search(headers["Authorization"]) for headers in s3_headers)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "private-files", "Key": "k"})
    assert "X-Amz-Signature=" in url or "Signature=" in url


def test_a_service_whose_url_names_no_region_still_gets_the_callers_region(patched: MotoPatches) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-2")
    url = sqs.create_queue(QueueName="replies")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn.startswith("arn:aws:sqs:eu-west-2:")


def test_assumed_role_credentials_still_act_in_the_role_s_account(patched: MotoPatches) -> None:
    role = "arn:aws:iam::111111111111:role/stepwise-probe"
    assumed = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role, RoleSessionName="probe")
    keys = assumed["Credentials"]
    other_account = boto3.client(
        "dynamodb",
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    created = _table(other_account, "t")
    assert ":111111111111:table/t" in created["TableDescription"]["TableArn"]


def test_undo_puts_back_every_patched_internal() -> None:
    def snapshot() -> dict[tuple[str, str], Any]:
        taken: dict[tuple[str, str], Any] = {}
        for target in INTERNALS:
            value = resolve(target)
            taken[target] = dict(vars(value)) if isinstance(value, type) else value
        for module in _parser_modules_using_boto_client():
            taken[(module.__name__, "boto_client_for")] = module.boto_client_for
        return taken

    with mock_aws():
        before = snapshot()
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        assert snapshot() != before
        patches.undo()
        assert snapshot() == before
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        headers = _sent_headers(dynamodb)
        dynamodb.list_tables()
    assert _REAL_SIGNATURE.search(headers[0]["Authorization"])  # a real SigV4 signature again


def _run_one_task(invoke_result: bytes, *, function_error: bool = False) -> dict[str, Any]:
    def invoke(name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        assert name.endswith(":function:probe")
        assert json.loads(body) == {"n": 1}
        if function_error:
            response_headers["x-amz-function-error"] = "Unhandled"
        return invoke_result

    definition = {
        "StartAt": "Probe",
        "States": {
            "Probe": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:probe",
                "End": True,
            }
        },
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        patches = MotoPatches(invoke=invoke)
        patches.apply()
        try:
            sfn = boto3.client("stepfunctions", region_name=REGION)
            machine = sfn.create_state_machine(name="probe", definition=json.dumps(definition), roleArn=ROLE)
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')[
                "executionArn"
            ]
            for _ in range(2000):
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    return dict(described)
                time.sleep(0.005)
            raise AssertionError("the probe execution did not end")
        finally:
            patches.undo()


def test_a_lambda_task_gets_the_handlers_payload() -> None:
    described = _run_one_task(b'{"ok": true, "items": [1, 2]}')
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"ok": True, "items": [1, 2]}


def test_a_handler_error_fails_the_task_with_its_error_type() -> None:
    described = _run_one_task(b'{"errorType": "LeadNotFound", "errorMessage": "L-404"}', function_error=True)
    assert described["status"] == "FAILED"
    assert described["error"] == "LeadNotFound"
    assert "L-404" in described["cause"]


def test_a_response_over_lambdas_6_mb_cap_fails_like_lambda() -> None:
    described = _run_one_task(json.dumps({"blob": "x" * 6_300_000}).encode())
    assert described["status"] == "FAILED"
    assert described["error"] == "Function.ResponseSizeTooLarge"


def test_url_tables_are_built_once_and_follow_the_s3_endpoint_setting(
    patched: MotoPatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.s3.models import s3_backends

    backend = s3_backends["123456789012"]["aws"]
    assert resolve(BACKEND_URLS).urls.fget(backend) is backend.urls  # the same table, not rebuilt
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", "https://files.example.test")
    assert any("files.example.test" in url for url in backend.urls)
    monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS")
    assert not any("files.example.test" in url for url in backend.urls)
    assert os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS") is None


def _table(dynamodb: Any, name: str = "ledger", *, sort_key: bool = False, **options: Any) -> dict[str, Any]:
    keys = ["pk", "sk"] if sort_key else ["pk"]
    created: dict[str, Any] = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        BillingMode="PAY_PER_REQUEST",
        **options,
    )
    return created


def _items(dynamodb: Any, table: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every item of ``table`` by its key values."""
    found = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {tuple(item[k]["S"] for k in ("pk", "sk") if k in item): item for item in found}


_ADD_TWO_TO_TOTAL = {
    "Update": {
        "TableName": "ledger",
        "Key": {"pk": {"S": "total"}},
        "UpdateExpression": "SET usd = usd + :d",
        "ExpressionAttributeValues": {":d": {"N": "2"}},
    }
}


def test_a_cancelled_transaction_leaves_every_item_of_the_table_as_it_was(patched: MotoPatches) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _table(dynamodb)
    dynamodb.put_item(TableName="ledger", Item={"pk": {"S": "total"}, "usd": {"N": "1"}})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "call-1"}}}},
                _ADD_TWO_TO_TOTAL,
                {
                    "ConditionCheck": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "budget"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    items = dynamodb.scan(TableName="ledger")["Items"]
    assert items == [{"pk": {"S": "total"}, "usd": {"N": "1"}}]

    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "call-2"}}}},
            _ADD_TWO_TO_TOTAL,
        ]
    )
    stored = {item["pk"]["S"]: item for item in dynamodb.scan(TableName="ledger")["Items"]}
    assert set(stored) == {"total", "call-2"}
    assert stored["total"]["usd"] == {"N": "3"}


def _count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> list[object]:
    """The instances ``cls.method`` is called on from now on (the method still runs)."""
    calls: list[object] = []
    original = getattr(cls, method)

    def counting(self: object, *args: Any) -> Any:
        calls.append(self)
        return original(self, *args)

    monkeypatch.setattr(cls, method, counting)
    return calls


_MISSING_BUDGET = {
    "ConditionCheck": {
        "TableName": "accounts",
        "Key": {"pk": {"S": "acme"}, "sk": {"S": "budget"}},
        "ConditionExpression": "attribute_exists(pk)",
    }
}


def _accounts(dynamodb: Any, **options: Any) -> dict[tuple[str, ...], dict[str, Any]]:
    """A range-key table with three items of one customer and one of another; its items."""
    _table(dynamodb, "accounts", sort_key=True, **options)
    for pk, sk, value in (("acme", "a", "1"), ("acme", "b", "2"), ("acme", "c", "3"), ("zeta", "a", "9")):
        dynamodb.put_item(
            TableName="accounts",
            Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": value}, "tags": {"SS": ["x", "y"]}},
        )
    return _items(dynamodb, "accounts")


def _update_put_delete_then_fail(dynamodb: Any) -> None:
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "accounts",
                        "Key": {"pk": {"S": "acme"}, "sk": {"S": "a"}},
                        "UpdateExpression": "SET n = n + :d ADD tags :t REMOVE #g",
                        "ExpressionAttributeNames": {"#g": "gone"},
                        "ExpressionAttributeValues": {":d": {"N": "5"}, ":t": {"SS": ["z"]}},
                    }
                },
                {"Delete": {"TableName": "accounts", "Key": {"pk": {"S": "acme"}, "sk": {"S": "b"}}}},
                {"Put": {"TableName": "accounts", "Item": {"pk": {"S": "new"}, "sk": {"S": "a"}}}},
                {"Put": {"TableName": "accounts", "Item": {"pk": {"S": "acme"}, "sk": {"S": "d"}}}},
                _MISSING_BUDGET,
            ]
        )


def test_a_cancelled_transaction_on_a_range_key_table_puts_back_what_it_updated_deleted_and_added(
    patched: MotoPatches,
) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    before = _accounts(dynamodb)

    _update_put_delete_then_fail(dynamodb)

    assert _items(dynamodb, "accounts") == before
    # The restored items are live ones: a later write to them, and a query of the customer, work.
    dynamodb.update_item(
        TableName="accounts",
        Key={"pk": {"S": "acme"}, "sk": {"S": "a"}},
        UpdateExpression="SET n = n + :d",
        ExpressionAttributeValues={":d": {"N": "1"}},
    )
    queried = dynamodb.query(
        TableName="accounts",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "acme"}},
    )["Items"]
    assert [(item["sk"]["S"], item["n"]["N"]) for item in queried] == [("a", "2"), ("b", "2"), ("c", "3")]


def test_a_table_with_a_stream_is_still_put_back_whole_when_its_transaction_is_cancelled(
    patched: MotoPatches,
) -> None:
    """A copy of the items would leave the stream records of the cancelled writes behind."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    before = _accounts(
        dynamodb, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )

    def stream_records() -> list[str]:
        # moto 5.2.5 answers DynamoDB Streams' DescribeStream with 404: read its shard directly.
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table("accounts")
        assert table.stream_shard is not None
        return [record.record["eventName"] for record in table.stream_shard.items]

    recorded = stream_records()
    _update_put_delete_then_fail(dynamodb)
    assert _items(dynamodb, "accounts") == before
    assert stream_records() == recorded == ["INSERT"] * 4


def test_a_transaction_copies_the_items_it_names_not_the_table_they_are_in(
    patched: MotoPatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto copied the whole table for its undo: a call's cost grew with every item stored."""
    from moto.dynamodb.models.dynamo_type import Item

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _accounts(dynamodb)
    for index in range(300):
        dynamodb.put_item(TableName="accounts", Item={"pk": {"S": f"lead-{index}"}, "sk": {"S": "a"}})
    copies = _count_calls(monkeypatch, Item, "__deepcopy__")
    _update_put_delete_then_fail(dynamodb)  # five operations, two of them on existing items
    cancelled = len(copies)
    copies.clear()
    dynamodb.transact_write_items(
        TransactItems=[_ADD_TO_ACME_A, {"Put": {"TableName": "accounts", "Item": _NEW}}]
    )

    # Not 300+: the items the operations name, and moto's own copy of an updated item.
    assert cancelled <= 5
    assert len(copies) <= 4
    assert _items(dynamodb, "accounts")[("acme", "a")]["n"] == {"N": "2"}


_ADD_TO_ACME_A = {
    "Update": {
        "TableName": "accounts",
        "Key": {"pk": {"S": "acme"}, "sk": {"S": "a"}},
        "UpdateExpression": "SET n = n + :d",
        "ExpressionAttributeValues": {":d": {"N": "1"}},
    }
}
_NEW = {"pk": {"S": "new"}, "sk": {"S": "a"}}


def test_a_transaction_naming_one_item_twice_or_a_missing_table_changes_nothing(
    patched: MotoPatches,
) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    before = _accounts(dynamodb)
    with pytest.raises(ClientError, match="ValidationException"):
        dynamodb.transact_write_items(TransactItems=[_ADD_TO_ACME_A, _ADD_TO_ACME_A])
    with pytest.raises(ClientError, match=r"TransactionCanceled|ResourceNotFound"):
        dynamodb.transact_write_items(
            TransactItems=[
                _ADD_TO_ACME_A,
                {"Put": {"TableName": "no-such-table", "Item": {"pk": {"S": "x"}}}},
            ]
        )
    with pytest.raises(ClientError, match="TransactionCanceled"):  # moto's backend sees this one
        dynamodb.transact_write_items(
            TransactItems=[
                _ADD_TO_ACME_A,
                {"Delete": {"TableName": "no-such-table", "Key": {"pk": {"S": "x"}}}},
            ]
        )
    with pytest.raises(ClientError, match="ValidationException"):  # a key without its sort key
        dynamodb.transact_write_items(
            TransactItems=[
                _ADD_TO_ACME_A,
                {"Delete": {"TableName": "accounts", "Key": {"pk": {"S": "acme"}}}},
            ]
        )
    assert _items(dynamodb, "accounts") == before


def test_a_cancelled_transaction_undoes_an_operation_that_names_its_table_by_arn(
    patched: MotoPatches,
) -> None:
    """AWS rolls back every operation; moto itself only copied tables it found by name."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    before = _accounts(dynamodb)
    arn = dynamodb.describe_table(TableName="accounts")["Table"]["TableArn"]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[{"Update": {**_ADD_TO_ACME_A["Update"], "TableName": arn}}, _MISSING_BUDGET]
        )
    assert _items(dynamodb, "accounts") == before


def test_a_runtimes_patches_still_apply_inside_another_runtimes(patched: MotoPatches) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _accounts(dynamodb)
    inner = MotoPatches(invoke=lambda *_: b"{}")
    inner.apply()
    try:
        assert [item["sk"]["S"] for item in dynamodb.query(**_QUERIES[0])["Items"]] == ["a", "b", "c"]
    finally:
        inner.undo()
    assert len(dynamodb.query(**_QUERIES[0])["Items"]) == 3


_QUERIES: list[dict[str, Any]] = [
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "acme"}},
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "acme"}, ":s": {"S": "deal#"}},
        "ScanIndexForward": False,
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "FilterExpression": "n > :n",
        "ProjectionExpression": "sk, n",
        "ExpressionAttributeValues": {
            ":p": {"S": "acme"},
            ":a": {"S": "b"},
            ":b": {"S": "deal#3"},
            ":n": {"N": "1"},
        },
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "none"}},
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"N": "7"}},
    },
    {
        "TableName": "ledger",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "total"}},
    },
    {
        "TableName": "accounts",
        "IndexName": "by_n",
        "KeyConditionExpression": "n = :n",
        "ExpressionAttributeValues": {":n": {"N": "2"}},
    },
    # A busy partition (a contact with hundreds of activities): the key condition selects a few.
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "deal#"}},
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "deal#"}},
        "ScanIndexForward": False,
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND sk < :s",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "act#005"}},
        "ScanIndexForward": False,
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND sk >= :s",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "note"}},
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "nothing"}},
    },
    {
        "TableName": "accounts",
        "KeyConditionExpression": "pk = :p AND sk = :s",
        "ExpressionAttributeValues": {":p": {"S": "busy"}, ":s": {"S": "deal#3"}},
    },
    # A number range key sorts by value, not by its text ("10" after "9").
    {
        "TableName": "scores",
        "KeyConditionExpression": "pk = :p AND n BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "s"}, ":a": {"N": "5"}, ":b": {"N": "12"}},
    },
    {
        "TableName": "scores",
        "KeyConditionExpression": "pk = :p AND n > :a",
        "ExpressionAttributeValues": {":p": {"S": "s"}, ":a": {"N": "26.5"}},
        "ScanIndexForward": False,
    },
]


def _query_everything(dynamodb: Any) -> list[list[dict[str, Any]]]:
    """Each query of ``_QUERIES`` read page by page (two items a page), and without a limit."""
    answers = []
    for query in _QUERIES:
        pages = dynamodb.get_paginator("query").paginate(**query, PaginationConfig={"PageSize": 2})
        answers.append(
            [
                {
                    "Items": page["Items"],
                    "Count": page["Count"],
                    "ScannedCount": page["ScannedCount"],
                    "LastEvaluatedKey": page.get("LastEvaluatedKey"),
                }
                for page in pages
            ]
        )
        answers.append([dynamodb.query(**query)["Items"]])
    return answers


def test_a_query_of_a_tables_own_key_answers_as_moto_does_page_by_page_and_reads_only_that_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto sorted every item of the table for each query: a partition of three cost the table."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _table(dynamodb, "ledger")
        dynamodb.create_table(
            TableName="accounts",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "n", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_n",
                    "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="ledger", Item={"pk": {"S": "total"}, "usd": {"N": "4"}})
        for pk in ("acme", "zeta", "7", "beta"):
            for index, sk in enumerate(("a", "b", "deal#1", "deal#2", "deal#3", "z")):
                dynamodb.put_item(
                    TableName="accounts",
                    Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(index % 3)}},
                )
        for index in range(200):
            dynamodb.put_item(TableName="accounts", Item={"pk": {"S": f"lead-{index}"}, "sk": {"S": "a"}})
        dynamodb.create_table(
            TableName="scores",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "n", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "n", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in (*range(30, 0, -1), 2.5):
            dynamodb.put_item(TableName="scores", Item={"pk": {"S": "s"}, "n": {"N": str(n)}})
        busy = ["note", "deal#2", *(f"act#{n:03}" for n in range(150)), "deal#1", "deal#3", "deal#4"]
        for sk in busy:  # not in key order, as activities and deals arrive
            dynamodb.put_item(TableName="accounts", Item={"pk": {"S": "busy"}, "sk": {"S": sk}})
        as_moto_answers = _query_everything(dynamodb)

        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            assert _query_everything(dynamodb) == as_moto_answers
            compared = _count_calls(monkeypatch, DynamoType, "__eq__")
            dynamodb.query(**_QUERIES[0])
            compared_in_one_partition = len(compared)
            ordered = _count_calls(monkeypatch, DynamoType, "__lt__")
            deals = dynamodb.query(**_QUERIES[7])
        finally:
            patches.undo()
    assert compared_in_one_partition < 50  # the partition's six items, not the table's 379
    # and the busy partition's deals are found without sorting its 155 items by DynamoType
    assert [item["sk"]["S"] for item in deals["Items"]] == ["deal#1", "deal#2", "deal#3", "deal#4"]
    assert len(ordered) < 20


_UPDATES: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    (
        "SET n = n + :one, #l = list_append(#l, :more), m.a.b = :s",
        {"#l": "list"},
        {":one": {"N": "1"}, ":more": {"L": [{"S": "z"}]}, ":s": {"S": "deep"}},
    ),
    (
        "SET fresh = if_not_exists(fresh, :zero) + :one REMOVE gone, #l[0]",
        {"#l": "list"},
        {":zero": {"N": "0"}, ":one": {"N": "1"}},
    ),
    (
        "ADD tags :t, n :one DELETE #o :o",
        {"#o": "other"},
        {":t": {"SS": ["c"]}, ":one": {"N": "1"}, ":o": {"SS": ["x"]}},
    ),
    ("SET #s = :s, m.a.c = m.a.b", {"#s": "status"}, {":s": {"S": "done"}}),
    ("SET n = n + :s", {}, {":s": {"S": "not a number"}}),  # a type mismatch
    ("SET m.nothing.deeper = :s", {}, {":s": {"S": "x"}}),  # a path that does not exist
    ("SET pk = :s", {}, {":s": {"S": "other"}}),  # the key
    ("SET n = :one, n = :one", {}, {":one": {"N": "1"}}),  # overlapping paths
    ("SET a = :one REMOVE a", {}, {":one": {"N": "1"}}),
    ("SET missing_value = :nope", {}, {}),
    ("ADD n :one SET n = :one", {}, {":one": {"N": "1"}}),
    ("SET a = :one SET b = :one", {}, {":one": {"N": "1"}}),  # two SET clauses
    ("ADD n :one ADD fresh :one", {}, {":one": {"N": "1"}}),  # two ADD clauses
    ("SET m.a = :one, m.a.b = :one", {}, {":one": {"N": "1"}}),  # one path inside another
    ("SET #a = :one, #b = :one", {"#a": "same", "#b": "same"}, {":one": {"N": "1"}}),  # one name twice
    # The ledger's shape: ADDs to attributes the item does not have yet, then a SET.
    (
        "ADD t1 :one, t2 :one, t3 :one, n :one SET at_ = :one, #s = :s",
        {"#s": "status"},
        {":one": {"N": "1"}, ":s": {"S": "x"}},
    ),
]


def _apply_updates(dynamodb: Any) -> list[Any]:
    """Each update of ``_UPDATES`` on a fresh copy of one item: the item after it, or the error."""
    outcomes: list[Any] = []
    for index, (expression, names, values) in enumerate(_UPDATES):
        key = {"pk": {"S": f"item-{index}"}}
        dynamodb.put_item(
            TableName="ledger",
            Item={
                **key,
                "n": {"N": "41"},
                "list": {"L": [{"S": "a"}, {"S": "b"}]},
                "m": {"M": {"a": {"M": {"b": {"S": "old"}}}}},
                "tags": {"SS": ["a", "b"]},
                "other": {"SS": ["x", "y"]},
                "gone": {"S": "soon"},
            },
        )
        options: dict[str, Any] = {"UpdateExpression": expression}
        if names:
            options["ExpressionAttributeNames"] = names
        if values:
            options["ExpressionAttributeValues"] = values
        try:
            dynamodb.update_item(TableName="ledger", Key=key, ReturnValues="ALL_NEW", **options)
            outcomes.append(dynamodb.get_item(TableName="ledger", Key=key)["Item"])
        except ClientError as exc:
            outcomes.append(exc.response["Error"])
    return outcomes


def test_update_expressions_change_items_and_fail_exactly_as_moto_does_with_the_faster_traversal() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _table(dynamodb)
        as_moto = _apply_updates(dynamodb)
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            patched = _apply_updates(dynamodb)
        finally:
            patches.undo()
    assert patched == as_moto
    refused = [outcome["Code"] for outcome in as_moto if "Code" in outcome]
    assert refused == ["ValidationException"] * 11  # the first four and the last changed their item
    assert "t3" in as_moto[-1]


def test_a_reused_update_expression_applies_to_each_item_and_a_bad_one_is_refused_each_time(
    patched: MotoPatches,
) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _table(dynamodb)
    for pk, amount in (("a", "1"), ("b", "5"), ("a", "2")):
        dynamodb.update_item(
            TableName="ledger",
            Key={"pk": {"S": pk}},
            UpdateExpression="SET n = if_not_exists(n, :z) + :d",
            ExpressionAttributeValues={":z": {"N": "0"}, ":d": {"N": amount}},
        )
    stored = {item["pk"]["S"]: item["n"]["N"] for item in dynamodb.scan(TableName="ledger")["Items"]}
    assert stored == {"a": "3", "b": "5"}
    for _ in range(2):
        with pytest.raises(ClientError, match="ValidationException"):
            dynamodb.update_item(TableName="ledger", Key={"pk": {"S": "a"}}, UpdateExpression="SET = broken")


_EVERY_ATTRIBUTE_TYPE = {
    "pk": {"S": "item-1"},
    "count": {"N": "42"},
    "blob": {"B": b"\x00\x01binary"},
    "names": {"SS": ["ada", "grace"]},
    "scores": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"a", b"\xff"]},
    "nested": {"M": {"inner": {"S": "x"}, "list": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    "empty_map": {"M": {}},
    "empty_list": {"L": []},
    "nothing": {"NULL": True},
    "flag": {"BOOL": True},
    "empty_string": {"S": ""},
}


def _response_bodies() -> list[bytes]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    bodies: list[bytes] = []
    dynamodb.meta.events.register(
        "after-call", lambda http_response, **_: bodies.append(http_response.content)
    )
    _table(dynamodb)
    dynamodb.put_item(TableName="ledger", Item=_EVERY_ATTRIBUTE_TYPE)
    dynamodb.get_item(TableName="ledger", Key={"pk": {"S": "item-1"}})
    dynamodb.scan(TableName="ledger")
    dynamodb.query(
        TableName="ledger",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "item-1"}},
    )
    dynamodb.update_item(
        TableName="ledger",
        Key={"pk": {"S": "item-1"}},
        UpdateExpression="SET #c = #c + :one",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    return [body for body in bodies if b"item-1" in body]


def test_attribute_values_serialize_to_the_same_bytes_as_moto_s_generic_serializer() -> None:
    with mock_aws():
        plain = _response_bodies()
    with mock_aws():
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            shortcut = _response_bodies()
        finally:
            patches.undo()
    assert len(plain) == 4
    assert shortcut == plain


def test_a_states_json_values_are_copied_whole_and_other_values_by_deepcopy() -> None:
    from decimal import Decimal

    from local.patches import json_deepcopy

    shared: dict[str, Any] = {"deep": [1, 2.5, True, None, "s"]}
    value: dict[str, Any] = {"a": shared, "b": [shared, {"c": Decimal("1.5"), "t": (1, [2])}]}
    copied = json_deepcopy(value)
    assert copied == value
    # every dict and list is a new one: changing the copy leaves the original as it was
    copied["a"]["deep"].append("more")
    copied["b"][1]["t"][1].append(3)
    assert shared == {"deep": [1, 2.5, True, None, "s"]}
    assert value["b"][1] == {"c": Decimal("1.5"), "t": (1, [2])}
    # JSON has no sharing: a dict that appears twice is copied twice (deepcopy would share it)
    assert copied["b"][0] == shared
    assert copied["b"][0] is not copied["a"]
    # a value JSON has no type for goes through deepcopy (the tuple's list is a copy too)
    assert copied["b"][1]["t"] == (1, [2, 3])


_CONDITIONS: list[tuple[str, dict[str, Any]]] = [
    ("put", {"ConditionExpression": "attribute_not_exists(pk)"}),  # fails: the item exists
    ("put", {"ConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "41"}}}),
    ("put", {"ConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "41"}}}),  # now fails
    ("put", {"ConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "42"}}}),
    (
        "update",
        {"ConditionExpression": "#s = :p AND size(tags) > :z", "ExpressionAttributeNames": {"#s": "status"}},
    ),
    (
        "update",
        {"ConditionExpression": "#s = :p", "ExpressionAttributeNames": {"#s": "status", "#u": "unused"}},
    ),
    ("update", {"ConditionExpression": "#s = :missing", "ExpressionAttributeNames": {"#s": "status"}}),
    ("update", {"ConditionExpression": "#s = = :p", "ExpressionAttributeNames": {"#s": "status"}}),  # syntax
    (
        "update",
        {"ConditionExpression": "contains(tags, :b)", "ExpressionAttributeValues": {":b": {"B": b"x"}}},
    ),
    ("delete", {"ConditionExpression": "attribute_exists(pk) AND n BETWEEN :lo AND :hi"}),
    ("scan", {"FilterExpression": "n > :lo OR begins_with(pk, :p)"}),
    ("scan", {"FilterExpression": "n > :lo OR begins_with(pk, :p)"}),
]


_SHARED_VALUES = {":p": {"S": "PENDING"}, ":z": {"N": "0"}, ":lo": {"N": "1"}, ":hi": {"N": "99"}}


def _apply_conditions(dynamodb: Any) -> list[Any]:
    """Each write or scan of ``_CONDITIONS`` on one item: the table after it, or the error."""
    _table(dynamodb)
    item = {"pk": {"S": "a"}, "n": {"N": "41"}, "status": {"S": "PENDING"}, "tags": {"SS": ["t"]}}
    dynamodb.put_item(TableName="ledger", Item=item)
    outcomes: list[Any] = []
    for kind, given in _CONDITIONS:
        expression = given["FilterExpression" if kind == "scan" else "ConditionExpression"]
        values = {name: value for name, value in _SHARED_VALUES.items() if name in expression}
        values.update(given.get("ExpressionAttributeValues", {}))
        if kind == "update":
            values[":one"] = {"N": "1"}
        options = {**given, "ExpressionAttributeValues": values} if values else given
        try:
            if kind == "put":
                dynamodb.put_item(TableName="ledger", Item={**item, "n": {"N": "42"}}, **options)
            elif kind == "update":
                dynamodb.update_item(
                    TableName="ledger", Key={"pk": {"S": "a"}}, UpdateExpression="SET seen = :one", **options
                )
            elif kind == "delete":
                dynamodb.delete_item(TableName="ledger", Key={"pk": {"S": "a"}}, **options)
                dynamodb.put_item(TableName="ledger", Item=item)
            else:
                outcomes.append(dynamodb.scan(TableName="ledger", **options)["Items"])
            outcomes.append(dynamodb.scan(TableName="ledger")["Items"])
        except ClientError as exc:
            outcomes.append(exc.response["Error"])
        except (KeyError, ValueError) as exc:  # moto raises these itself (no ClientError)
            outcomes.append(f"{type(exc).__name__} {exc}")
    return outcomes


def test_condition_and_filter_expressions_decide_and_fail_exactly_as_moto_does_when_parsed_once() -> None:
    with mock_aws():
        as_moto = _apply_conditions(boto3.client("dynamodb", region_name=REGION))
    with mock_aws():
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            patched = _apply_conditions(boto3.client("dynamodb", region_name=REGION))
        finally:
            patches.undo()
    assert patched == as_moto
    refused = [outcome.get("Code") for outcome in as_moto if isinstance(outcome, dict)]
    assert refused.count("ConditionalCheckFailedException") >= 2
    assert "ValidationException" in refused  # the unused name, the missing value, the syntax error
