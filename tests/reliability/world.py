"""What the business systems hold after a run, in a form two runs can be compared by.

"Exactly one side effect" means: a run whose steps failed and were retried leaves the same world
as a clean run of the same scenario (each in a fresh runtime with the same seed). Each item is
reduced to what identifies the effect (table, key kinds, status, kind, stage, contact, amounts),
dropping what differs between two runs of the same thing (generated ids, timestamps, execution
names). The idempotency table and the LLM audit bucket are left out: they record attempts, not
business effects.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from functions.shared.aws import client
from functions.shared.config import settings
from local.runtime import LocalRuntime

#: Attributes that name an effect (not its generated id or time).
SIGNATURE_FIELDS = (
    "status",
    "kind",
    "stage",
    "contact_id",
    "client_id",
    "email",
    "minutes",
    "amount_cents",
    "rate_cents",
    "state",
    "event_id",
)


#: ``LocalRuntime.start``'s execution names: ``<workflow with dashes>-<12 hex>``.
EXECUTION_NAME = re.compile(r"[a-z]+(?:-[a-z]+)*-[0-9a-f]{12}")


#: Working files (drafts, approved texts) carry the attempt that wrote them or a random id.
ATTEMPT_SUFFIX = re.compile(r"-\d+(\.\w+)$")
#: A Distributed Map's ResultWriter writes under its map run's id (a UUID per run of the Map).
MAP_RUN = re.compile(r"/map-results/([A-Za-z]+)/[0-9a-f-]{36}/")
APPROVED_TEXT = re.compile(r"/approved-[A-Za-z0-9_-]+(\.\w+)$")


def file_signature(key: str) -> str:
    """Working files are named by execution, attempt or approval id; published ones by business key."""
    key = MAP_RUN.sub(r"/map-results/\1/<map run>/", key)
    key = EXECUTION_NAME.sub("<run>", key)
    key = APPROVED_TEXT.sub(r"/approved-<approval>\1", key)
    return ATTEMPT_SUFFIX.sub(r"-<attempt>\1", key) if "<run>" in key else key


def _plain(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


def _item_signature(table: str, item: dict[str, Any]) -> tuple[str, ...]:
    keys = tuple(_plain(item[k]).split("#", 1)[0] for k in ("pk", "sk") if k in item)
    fields = tuple(f"{f}={_plain(item[f])}" for f in SIGNATURE_FIELDS if f in item)
    return (table, *keys, *fields)


def world(runtime: LocalRuntime) -> Counter[tuple[str, ...]]:
    config = settings()
    dynamodb = client("dynamodb")
    seen: Counter[tuple[str, ...]] = Counter()
    for table in (config.crm_table, config.billing_table, config.calendar_table, config.approvals_table):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            seen.update(_item_signature(table, item) for item in page["Items"])
    listed = client("s3").get_paginator("list_objects_v2").paginate(Bucket=config.files_bucket)
    for page in listed:
        for obj in page.get("Contents", []):
            seen[("files", file_signature(str(obj["Key"])))] += 1
    seen.update(("email", str(e["to"]), str(e["subject"])) for e in runtime.outbox())
    return seen
