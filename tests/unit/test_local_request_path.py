"""The local runtime's shortcuts through boto3 and moto keep what a caller can observe.

Each patch in ``local/patches.py`` that makes a call cheaper (no SigV4 signature, the
interpreter's Lambda tasks called directly, URL tables and update expressions built once,
one table snapshot per transaction) is checked here against the behaviour it must keep.
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


def _table(dynamodb: Any, name: str = "ledger") -> dict[str, Any]:
    created: dict[str, Any] = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return created


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
