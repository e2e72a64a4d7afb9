"""The resource IAM evaluates for each request a deployed Lambda makes (``local/iam_enforcement``)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from local import iam_enforcement
from local.iam_enforcement import resources_of, transaction_checks

REGION = "us-east-1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table"


@dataclass
class Request:
    target: str = ""
    body: Any = None
    scope_service: str = "dynamodb"
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {
            "X-Amz-Target": self.target,
            "Authorization": "AWS4-HMAC-SHA256 "
            f"Credential=ASIAEXAMPLE/20261207/{REGION}/{self.scope_service}/aws4_request, "
            "SignedHeaders=host, Signature=x",
        }


@pytest.mark.parametrize("target", iam_enforcement.INTERNALS, ids=".".join)
def test_the_moto_internals_the_shim_uses_still_exist(target: tuple[str, str]) -> None:
    module, name = target
    assert getattr(importlib.import_module(module), name) is not None


def test_a_query_on_an_index_is_evaluated_against_the_index_arn() -> None:
    request = Request("DynamoDB_20120810.Query", {"TableName": "crm", "IndexName": "gsi1"})
    assert resources_of(request, REGION) == [f"{TABLE}/crm/index/gsi1"]


def test_a_batch_names_every_table_it_touches() -> None:
    request = Request("DynamoDB_20120810.BatchWriteItem", json.dumps({"RequestItems": {"b": [], "a": []}}))
    assert resources_of(request, REGION) == [f"{TABLE}/a", f"{TABLE}/b"]


def test_a_transaction_is_authorized_item_by_item_as_the_action_each_performs() -> None:
    body = {
        "TransactItems": [
            {"Put": {"TableName": "ledger", "Item": {}}},
            {"Update": {"TableName": "ledger", "Key": {}}},
            {"ConditionCheck": {"TableName": "crm", "Key": {}}},
        ]
    }
    checks = transaction_checks(Request("DynamoDB_20120810.TransactWriteItems", body), REGION)
    assert checks == [
        ("dynamodb:PutItem", f"{TABLE}/ledger"),
        ("dynamodb:UpdateItem", f"{TABLE}/ledger"),
        ("dynamodb:ConditionCheckItem", f"{TABLE}/crm"),
    ]
    assert transaction_checks(Request("DynamoDB_20120810.GetItem", {"TableName": "x"}), REGION) == []


def test_ses_v2_and_v1_are_evaluated_against_the_sender_identity() -> None:
    identity = "arn:aws:ses:us-east-1:123456789012:identity/outreach@acme.test"
    v2 = Request(body={"FromEmailAddress": "outreach@acme.test"}, scope_service="ses")
    v1 = Request(body="Action=SendEmail&Source=Outreach+%3Coutreach%40acme.test%3E", scope_service="ses")
    assert resources_of(v2, REGION) == [identity]
    assert resources_of(v1, REGION) == [identity]


def test_step_functions_calls_name_their_machine_or_execution_and_task_tokens_name_none() -> None:
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m:live"
    assert resources_of(Request("AWSStepFunctions.StartExecution", {"stateMachineArn": machine}), REGION) == [
        machine
    ]
    assert resources_of(Request("AWSStepFunctions.SendTaskSuccess", {"taskToken": "t"}), REGION) is None


def test_a_decrypt_is_evaluated_against_the_key_its_ciphertext_names() -> None:
    import base64

    import boto3
    from moto import mock_aws

    with mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"token")["CiphertextBlob"]
    request = Request("TrentService.Decrypt", {"CiphertextBlob": base64.b64encode(blob).decode()})
    assert resources_of(request, REGION) == [f"arn:aws:kms:us-east-1:123456789012:key/{key_id}"]


def test_an_ssm_read_is_evaluated_against_the_parameter_arn_without_its_leading_slash() -> None:
    request = Request("AmazonSSM.GetParameter", {"Name": "/stepwise/dev/approvers/referral"}, "ssm")
    assert resources_of(request, REGION) == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/stepwise/dev/approvers/referral"
    ]
