"""CRM items a referral run reads, on the seed CRM and on one with thousands more contacts.

DynamoDB bills reads by the items (and their size) a request reads, and a step's latency follows
them: a step that scans the CRM costs more every week the CRM grows. Referral is the flow that
looks contacts up by company, name and email domain (MatchReferral's candidates, FindDormantClients'
colleagues), so it is run end to end on its seed CRM and again with ``EXTRA_CONTACTS`` more contacts
at other companies, counting the CRM items every DynamoDB call of the run read: ``ScannedCount``
of a Query or Scan, the item of a GetItem, the items of a BatchGetItem. Counted, not timed: moto
reads a whole table for any index query, so local time says nothing about DynamoDB's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bench.happy_paths import OFFLINE, approve, drive, example_input
from bench.report import Measurement
from functions.shared.adapters import get_crm
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.ports.crm import Contact
from local.runtime import LocalRuntime

WORKFLOW = "referral"
EXTRA_CONTACTS = 2000
_OPERATIONS = ("Query", "Scan", "GetItem", "BatchGetItem")


@dataclass
class ReadCounter:
    """Items read from one table, summed over the calls a botocore client makes while registered."""

    table: str
    items: int = 0
    calls: int = 0
    _asked: threading.local = field(default_factory=threading.local)

    def asked(self, params: dict[str, Any], **_: Any) -> None:
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        self._asked.table_hit = self.table in tables

    def answered(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not getattr(self._asked, "table_hit", False):
            return
        self.calls += 1
        if model.name in ("Query", "Scan"):
            self.items += int(parsed.get("ScannedCount", 0))
        elif model.name == "GetItem":
            self.items += 1 if "Item" in parsed else 0
        else:
            self.items += len(parsed.get("Responses", {}).get(self.table, []))

    def register(self, events: Any) -> None:
        for operation in _OPERATIONS:
            events.register(f"provide-client-params.dynamodb.{operation}", self.asked)
            events.register(f"after-call.dynamodb.{operation}", self.answered)

    def unregister(self, events: Any) -> None:
        for operation in _OPERATIONS:
            events.unregister(f"provide-client-params.dynamodb.{operation}", self.asked)
            events.unregister(f"after-call.dynamodb.{operation}", self.answered)


def _filler(n: int) -> Contact:
    return Contact(
        contact_id=f"FILL-{n:05d}",
        email=f"person{n}@filler-{n}.example",
        name=f"Filler Person {n}",
        company=f"Filler Company {n}",
        status="client",
    )


def items_read(extra_contacts: int) -> tuple[int, int, int]:
    """(CRM items read, CRM calls, CRM contacts) of one referral happy path."""
    with LocalRuntime(env=OFFLINE) as runtime:
        crm = get_crm()
        for n in range(extra_contacts):
            crm.put_contact(_filler(n))
        pages = client("dynamodb").get_paginator("scan").paginate(
            TableName=settings().crm_table, Select="COUNT", FilterExpression="sk = :p",
            ExpressionAttributeValues={":p": {"S": "PROFILE"}},
        )  # fmt: skip
        contacts = sum(page["Count"] for page in pages)
        counter = ReadCounter(settings().crm_table)
        events = client("dynamodb").meta.events
        counter.register(events)
        try:
            arn = drive(runtime, WORKFLOW, example_input(WORKFLOW), approve)
        finally:
            counter.unregister(events)
        result = runtime.result(arn)
        if result.status != "SUCCEEDED" or (result.output or {}).get("status") != "reengaged":
            raise RuntimeError(f"{arn} ended {result.status} ({result.output})")
    return counter.items, counter.calls, contacts


def measure() -> list[Measurement]:
    small, small_calls, small_contacts = items_read(0)
    large, large_calls, large_contacts = items_read(EXTRA_CONTACTS)
    return [
        Measurement(
            "crm_scaling",
            f"{WORKFLOW}: CRM items read per run, seed CRM ({small_contacts} contacts)",
            small,
            "items",
            note=f"{small_calls} CRM reads",
        ),
        Measurement(
            "crm_scaling",
            f"{WORKFLOW}: CRM items read per run, {large_contacts:,} contacts",
            large,
            "items",
            note=f"{large_calls} CRM reads",
        ),
        Measurement(
            "crm_scaling",
            f"{WORKFLOW}: CRM items read, {large_contacts:,} contacts / {small_contacts}",
            large / small,
            "x",
            note=f"{large - small:+d} items read for {large_contacts - small_contacts:,} more contacts",
        ),
    ]
