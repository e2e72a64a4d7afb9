"""Key schemas of the DynamoDB tables, shared by the CDK storage construct and the local runtime.

Keeping them here means the table the local runtime creates is the table CDK deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class TableName(StrEnum):
    CRM = "crm_table"
    APPROVALS = "approvals_table"
    IDEMPOTENCY = "idempotency_table"
    BILLING = "billing_table"
    CALENDAR = "calendar_table"
    RUN_LEDGER = "run_ledger_table"


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    partition_key: str
    sort_key: str | None = None
    #: "ALL" copies every attribute into the index; "KEYS_ONLY" only the table's and index's keys
    #: (cheaper to write, for lookups whose hits are then read from the table).
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True)
class TableSchema:
    setting: TableName  # the StepwiseSettings field that holds the physical name
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[GlobalIndex, ...] = ()


TABLES: tuple[TableSchema, ...] = (
    # Single-table CRM: pk "CONTACT#<id>", sk "PROFILE" | "DEAL#<id>" | "ACTIVITY#<iso-ts>#<id>" |
    # "LOOKUP#<kind>"; gsi1 finds a contact by normalised email ("EMAIL#<email>"), gsi2 by company,
    # name or email domain ("COMPANY#<first word>" | "NAME#<name>" | "DOMAIN#<domain>", see
    # dynamodb_crm: one index for the three, since CloudFormation adds one index per update).
    TableSchema(
        TableName.CRM,
        partition_key="pk",
        sort_key="sk",
        indexes=(
            GlobalIndex("gsi1", "gsi1pk", "gsi1sk"),
            GlobalIndex("gsi2", "gsi2pk", "gsi2sk", projection="KEYS_ONLY"),
        ),
    ),
    # gsi_execution lists a run's approvals (to supersede or cancel the pending ones).
    TableSchema(
        TableName.APPROVALS,
        partition_key="approval_id",
        ttl_attribute="ttl",
        indexes=(GlobalIndex("gsi_execution", "execution", "created_at"),),
    ),
    # Powertools idempotency's default attribute names.
    TableSchema(TableName.IDEMPOTENCY, partition_key="id", ttl_attribute="expiration"),
    # Single-table billing: pk "CLIENT#<id>", sk "RATE#<matter|*>" | "TIME#<date>#<id>" |
    # "CREDIT#<ts>#<id>"; pk "INVOICE#<id>" | "TIMEENTRY#<id>" | "CREDITID#<id>" (idempotency markers);
    # gsi1 lists an attorney's time entries ("ATTORNEY#<email>", "TIME#<date>#<id>").
    TableSchema(
        TableName.BILLING,
        partition_key="pk",
        sort_key="sk",
        indexes=(GlobalIndex("gsi1", "gsi1pk", "gsi1sk"),),
    ),
    # Single-table calendar: pk "EVENT#<id>", sk "EVENT"; gsi1 = an owner's events
    # ("OWNER#<email>", "<ts>#<id>"), gsi2 = events by start month ("MONTH#<yyyy-mm>"),
    # gsi3 = a contact's events ("CONTACT#<id>").
    TableSchema(
        TableName.CALENDAR,
        partition_key="pk",
        sort_key="sk",
        indexes=(
            GlobalIndex("gsi1", "gsi1pk", "gsi1sk"),
            GlobalIndex("gsi2", "gsi2pk", "gsi2sk"),
            GlobalIndex("gsi3", "gsi3pk", "gsi3sk"),
        ),
    ),
    # Run ledger: pk "RUN#<execution name>", sk "CALL#<recorded at>#<call id>" (one per LLM call) |
    # "TOTAL" (the run's sums, updated with ADD in the same transaction); TTL on expires_at.
    TableSchema(TableName.RUN_LEDGER, partition_key="pk", sort_key="sk", ttl_attribute="expires_at"),
)
