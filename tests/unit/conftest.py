"""Shared unit-test fixture: a moto AWS account with Stepwise's tables, buckets and SES sender."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from functions.shared.adapters import reset_adapters
from functions.shared.aws import client, reset_clients
from functions.shared.config import settings
from functions.shared.tables import TABLES, TableSchema


def create_table(schema: TableSchema) -> str:
    """Create one table from its ``functions.shared.tables`` schema; returns its physical name."""
    name = str(getattr(settings(), schema.setting.value))
    keys = {schema.partition_key, *(k for k in [schema.sort_key] if k)}
    for index in schema.indexes:
        keys |= {index.partition_key, *(k for k in [index.sort_key] if k)}
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": _key_schema(schema.partition_key, schema.sort_key),
    }
    if schema.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in schema.indexes
        ]
    client("dynamodb").create_table(**request)
    return name


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials + ``mock_aws()`` with every table, both buckets and a verified sender."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    settings.cache_clear()
    reset_clients()
    reset_adapters()
    with mock_aws():
        for schema in TABLES:
            create_table(schema)
        for bucket in (settings().files_bucket, settings().audit_bucket):
            client("s3").create_bucket(Bucket=bucket)
        client("ses").verify_email_identity(EmailAddress=settings().sender_email)
        yield
    reset_adapters()
    reset_clients()
    settings.cache_clear()
