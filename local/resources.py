"""Create, inside moto, the resources CDK deploys (same table schemas, same names via settings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.shared.aws import client
from functions.shared.config import StepwiseSettings
from functions.shared.tables import TABLES, TableSchema


def _create_table(schema: TableSchema, name: str) -> None:
    attributes = {schema.partition_key}
    keys = [{"AttributeName": schema.partition_key, "KeyType": "HASH"}]
    if schema.sort_key:
        attributes.add(schema.sort_key)
        keys.append({"AttributeName": schema.sort_key, "KeyType": "RANGE"})
    indexes = []
    for index in schema.indexes:
        index_keys = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        attributes.add(index.partition_key)
        if index.sort_key:
            attributes.add(index.sort_key)
            index_keys.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
        indexes.append(
            {"IndexName": index.name, "KeySchema": index_keys, "Projection": {"ProjectionType": "ALL"}}
        )
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        kwargs["GlobalSecondaryIndexes"] = indexes
    dynamodb = client("dynamodb")
    dynamodb.create_table(**kwargs)
    if schema.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute}
        )


def create_resources(config: StepwiseSettings) -> None:
    for schema in TABLES:
        _create_table(schema, getattr(config, schema.setting.value))
    s3 = client("s3")
    for bucket in {config.files_bucket, config.audit_bucket}:
        s3.create_bucket(Bucket=bucket)
    key_id = client("kms").create_key(Description="stepwise approvals task-token sealing")["KeyMetadata"][
        "KeyId"
    ]
    client("kms").create_alias(AliasName=config.approvals_key_alias, TargetKeyId=key_id)
    client("ses").verify_email_identity(EmailAddress=config.sender_email)


def seed(config: StepwiseSettings, seed_dir: Path) -> None:
    """Load demo CRM data (``crm.json``) and files (``files/**``) from ``seed_dir``."""
    from functions.shared.adapters import get_crm, get_files
    from functions.shared.ports.crm import Contact, Deal

    data = json.loads((seed_dir / "crm.json").read_text(encoding="utf-8"))
    crm = get_crm()
    for contact in data.get("contacts", []):
        crm.put_contact(Contact.model_validate(contact))
    for deal in data.get("deals", []):
        crm.put_deal(Deal.model_validate(deal))
    files = get_files()
    files_dir = seed_dir / "files"
    if files_dir.is_dir():
        for path in sorted(files_dir.rglob("*")):
            if path.is_file():
                files.put_text(path.relative_to(files_dir).as_posix(), path.read_text(encoding="utf-8"))
    _ = config
