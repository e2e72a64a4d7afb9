"""Write the CRM's contact lookup items for contacts stored before ``find_contacts`` existed.

``DynamoDbCrm.put_contact`` keeps a contact's lookup items (company, name, email domain) current,
but profiles written by an older version have none, so ``find_contacts`` does not see them: a
referral would miss a fuzzy duplicate or a dormant colleague, the law firm's conflict check a
client found only by name. Run this once after upgrading a deployed stack (it scans the table, so
never from a step):

    python -m functions.shared.adapters.crm_reindex --table <CRM table physical name>

It uses the ambient AWS credentials and region. Each contact's write is a transaction conditional
on the profile's company, name and email being what the scan read, so a concurrent ``put_contact``
(which writes its own lookups) is never overwritten with stale keys: that contact is counted as
changed and left alone. It is safe to run again, and next to live workflows. Pages are processed
as they arrive; a contention or throttling error is retried per contact, with backoff.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from functions.shared.adapters.dynamodb_crm import PROFILE_SK, contact_pk, lookup_writes
from functions.shared.adapters.dynamodb_items import deserialize, serialize
from functions.shared.adapters.dynamodb_once import first_condition_failed
from functions.shared.adapters.errors import aws_errors, map_client_error
from functions.shared.aws import client
from functions.shared.errors import TransientIntegrationError
from functions.shared.observability import logger
from functions.shared.ports.crm import Contact

#: Attempts per contact when DynamoDB reports contention or throttling (the SDK retried already).
ATTEMPTS = 5


@dataclass
class ReindexReport:
    written: int = 0
    changed: int = 0  # updated by someone else between the scan and the write: left alone
    invalid: list[str] = field(default_factory=list)  # profiles that are not a valid Contact


def _write(ddb: Any, table: str, contact: Contact) -> bool:
    """Write one contact's lookups; ``False`` if its profile changed since it was read."""
    unchanged = {
        "ConditionCheck": {
            "TableName": table,
            "Key": serialize({"pk": contact_pk(contact.contact_id), "sk": PROFILE_SK}),
            "ConditionExpression": "#company = :company AND #name = :name AND #email = :email",
            "ExpressionAttributeNames": {"#company": "company", "#name": "name", "#email": "email"},
            "ExpressionAttributeValues": serialize(
                {":company": contact.company, ":name": contact.name, ":email": contact.email}
            ),
        }
    }
    for attempt in range(ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=[unchanged, *lookup_writes(table, contact)])
            return True
        except ClientError as exc:
            if first_condition_failed(exc):  # the ConditionCheck on the profile
                return False
            error = map_client_error(exc, operation="crm.reindex_lookups")
        except BotoCoreError as exc:
            error = map_client_error(exc, operation="crm.reindex_lookups")
        if not isinstance(error, TransientIntegrationError) or attempt == ATTEMPTS - 1:
            raise error
        time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def reindex_lookups(table: str) -> ReindexReport:
    """Write the lookup items of every contact profile in ``table`` from the profile itself."""
    ddb = client("dynamodb")
    report = ReindexReport()
    with aws_errors("crm.reindex_lookups"):
        pages = ddb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="sk = :profile",
            ExpressionAttributeValues=serialize({":profile": PROFILE_SK}),
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                values = deserialize(item)
                try:
                    contact = Contact.model_validate(
                        {k: v for k, v in values.items() if k in Contact.model_fields}
                    )
                except ValidationError:
                    logger.warning("profile is not a valid contact, skipped", pk=values.get("pk"))
                    report.invalid.append(str(values.get("pk")))
                    continue
                if _write(ddb, table, contact):
                    report.written += 1
                else:
                    logger.info("contact changed during reindex, left alone", contact_id=contact.contact_id)
                    report.changed += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m functions.shared.adapters.crm_reindex", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--table", required=True, help="the CRM table's physical name (stack output or console)"
    )
    args = parser.parse_args(argv)
    report = reindex_lookups(args.table)
    invalid = f": {', '.join(report.invalid)}" if report.invalid else ""
    print(
        f"{args.table}: lookup items written for {report.written} contact(s); "
        f"{report.changed} changed meanwhile (their own write indexed them); "
        f"{len(report.invalid)} invalid profile(s) skipped{invalid}"
    )
    return 1 if report.invalid else 0


if __name__ == "__main__":
    sys.exit(main())
