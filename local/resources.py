"""Create, inside moto, the resources CDK deploys (same table schemas, same names via settings)."""

from __future__ import annotations

import json
from collections.abc import Callable
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
            {
                "IndexName": index.name,
                "KeySchema": index_keys,
                "Projection": {"ProjectionType": index.projection},
            }
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
    region = s3.meta.region_name
    # S3 wants the region named for every region but us-east-1 (and refuses it there).
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    for bucket in {config.files_bucket, config.audit_bucket}:
        s3.create_bucket(Bucket=bucket, **location)
    key_id = client("kms").create_key(Description="stepwise approvals task-token sealing")["KeyMetadata"][
        "KeyId"
    ]
    client("kms").create_alias(AliasName=config.approvals_key_alias, TargetKeyId=key_id)
    client("ses").verify_email_identity(EmailAddress=config.sender_email)


#: Per-system seed loaders: ``<seed dir>/<name>.json`` → the loader. Workflows add theirs here.
SeedLoader = Callable[[Any], None]
SEED_LOADERS: dict[str, SeedLoader] = {}


def _seed_crm(data: Any) -> None:
    from functions.shared.adapters import get_crm
    from functions.shared.ports.crm import Contact, Deal

    crm = get_crm()
    for contact in data.get("contacts", []):
        crm.put_contact(Contact.model_validate(contact))
    for deal in data.get("deals", []):
        crm.put_deal(Deal.model_validate(deal))


SEED_LOADERS["crm"] = _seed_crm


def _seed_billing(data: Any) -> None:
    """``billing.json``: ``{"clients": [{"client_id", "rate_cents"?, "matter_rates"?: {matter: cents}}],
    "rates": [{"client_id", "matter_id": str | null, "rate_cents"}], "time_entries": [TimeEntry],
    "invoices": [Invoice], "credits": [Credit]}`` (every key optional)."""
    from pydantic import BaseModel, ConfigDict, Field

    from functions.shared.adapters import get_billing
    from functions.shared.ports.billing import Credit, Invoice, TimeEntry

    class _Client(BaseModel):
        model_config = ConfigDict(extra="forbid")
        client_id: str = Field(min_length=1)
        name: str | None = None
        rate_cents: int | None = Field(default=None, ge=0)
        matter_rates: dict[str, int] = Field(default_factory=dict)

    class _Rate(BaseModel):
        model_config = ConfigDict(extra="forbid")
        client_id: str = Field(min_length=1)
        matter_id: str | None = None
        rate_cents: int = Field(ge=0)

    billing = get_billing()
    for raw_client in data.get("clients", []):
        seeded = _Client.model_validate(raw_client)
        if seeded.rate_cents is not None:
            billing.set_rate(seeded.client_id, None, seeded.rate_cents)
        for matter_id, cents in seeded.matter_rates.items():
            billing.set_rate(seeded.client_id, matter_id, cents)
    for raw_rate in data.get("rates", []):
        rate = _Rate.model_validate(raw_rate)
        billing.set_rate(rate.client_id, rate.matter_id, rate.rate_cents)
    for entry in data.get("time_entries", []):
        billing.post_time_entry(TimeEntry.model_validate(entry))
    for invoice in data.get("invoices", []):
        billing.issue_invoice(Invoice.model_validate(invoice))
    for credit in data.get("credits", []):
        billing.grant_credit(Credit.model_validate(credit))


SEED_LOADERS["billing"] = _seed_billing


def _seed_calendar(data: Any) -> None:
    """``calendar.json``: ``{"events": [CalendarEvent]}``."""
    from functions.shared.adapters import get_calendar
    from functions.shared.ports.calendar import CalendarEvent

    calendar = get_calendar()
    for event in data.get("events", []):
        calendar.put_event(CalendarEvent.model_validate(event))


SEED_LOADERS["calendar"] = _seed_calendar


def seed(config: StepwiseSettings, seed_dir: Path) -> None:
    """Load demo data from ``seed_dir`` and each of its sub-folders (one per workflow).

    In each folder: ``<system>.json`` for every system in ``SEED_LOADERS`` (``crm.json``, ...) and
    ``files/**`` copied to the files bucket under the same relative keys.
    """
    from functions.shared.adapters import get_files

    folders = [seed_dir, *sorted(p for p in seed_dir.iterdir() if p.is_dir() and p.name != "files")]
    files = get_files()
    for folder in folders:
        for system, loader in SEED_LOADERS.items():
            source = folder / f"{system}.json"
            if source.is_file():
                loader(json.loads(source.read_text(encoding="utf-8")))
        files_dir = folder / "files"
        if files_dir.is_dir():
            for path in sorted(files_dir.rglob("*")):
                if path.is_file():
                    files.put_text(path.relative_to(files_dir).as_posix(), path.read_text(encoding="utf-8"))
    _ = config
