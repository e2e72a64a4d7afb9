"""CRM adapter on the single-table DynamoDB layout of ``functions.shared.tables`` (low-level client).

Items (all under ``pk = "CONTACT#<contact_id>"``):

- ``sk = "PROFILE"``: the contact, plus ``gsi1pk = "EMAIL#<normalised email>"``, ``gsi1sk = "CONTACT#<id>"``.
- ``sk = "LOOKUP#COMPANY" | "LOOKUP#NAME" | "LOOKUP#DOMAIN"``: the contact's lookup keys
  (``functions.shared.contact_keys``) in ``gsi2pk`` / ``gsi2sk`` (``"COMPANY#<first word>"`` /
  ``<company key>``, ``"NAME#<name key>"``, ``"DOMAIN#<domain>"``), for ``find_contacts``. One index
  serves all three because a DynamoDB item has one key per index, and CloudFormation adds only one
  index to a deployed table per update: three indexes would make upgrading a stack fail. The items
  have fixed sort keys, so ``put_contact`` rewrites (or deletes) all three in the profile's
  transaction without reading the old ones, and stale lookups cannot survive a change of company.
- ``sk = "RELATED#<ref>#<relation>#<party key>"``: a related party (``relate_party``), indexed in
  ``gsi2`` as ``"PARTY#<first word>"`` / ``<party key>`` for ``find_related`` (matched like companies).
- ``sk = "DEAL#<deal_id>"``: a deal.
- ``sk = "ACTIVITY#<at, fixed-width UTC>#<activity_id>"``: an activity (so a query returns them in order).
- ``sk = "ACTIVITYID#<activity_id>"``: idempotency marker of an activity. ``log_activity`` writes marker
  and activity in one transaction, the marker guarded by ``attribute_not_exists(pk)``: a retry of the
  same activity id is ignored even when its ``at`` differs (a re-run step stamps a new time).

Values are plain strings/numbers/booleans: floats go in as ``Decimal`` and numbers come back as
``int`` (integral) or ``float``, so the models stay JSON-safe.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from functions.shared.adapters.dynamodb_items import Item, deserialize, serialize
from functions.shared.adapters.dynamodb_once import first_condition_failed, write_once
from functions.shared.adapters.dynamodb_status import transition_status
from functions.shared.adapters.errors import aws_errors, map_client_error
from functions.shared.aws import client
from functions.shared.contact_keys import (
    ContactQuery,
    company_key,
    email_domain,
    name_key,
    same_company,
    same_company_key,
)
from functions.shared.errors import BusinessRuleError, TransientIntegrationError
from functions.shared.observability import logger
from functions.shared.ports.crm import (
    CLIENT_STATUSES,
    Activity,
    ClientTouch,
    Contact,
    ContactStatus,
    Deal,
    RelatedParty,
    StatusConflict,
    normalise_email,
    sortable_timestamp,
    utc_now_iso,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

PROFILE_SK = "PROFILE"
EMAIL_INDEX = "gsi1"
LOOKUP_INDEX = "gsi2"
#: DynamoDB caps a sort key at 1,024 bytes (UTF-8); longer keys are cut (``find_contacts``
#: re-checks the whole value on the profile, so a cut key can only add a candidate, never lose one).
_MAX_LOOKUP_KEY_BYTES = 1000
#: BatchGetItem may leave keys unprocessed under throttling: retried this often, with backoff.
_BATCH_GET_ROUNDS = 5
_BATCH_GET_SIZE = 100


def contact_pk(contact_id: str) -> str:
    return f"CONTACT#{contact_id}"


def email_gsi_pk(email: str) -> str:
    return f"EMAIL#{normalise_email(email)}"


def deal_sk(deal_id: str) -> str:
    return f"DEAL#{deal_id}"


def activity_sk(activity: Activity) -> str:
    return f"ACTIVITY#{sortable_timestamp(activity.at)}#{activity.activity_id}"


def activity_marker_sk(activity_id: str) -> str:
    return f"ACTIVITYID#{activity_id}"


def lookup_sk(kind: str) -> str:
    return f"LOOKUP#{kind}"


def cut_key(key: str, max_bytes: int = _MAX_LOOKUP_KEY_BYTES) -> str:
    """The key, cut to what a DynamoDB key attribute holds (whole characters; a prefix of ``key``)."""
    return key.encode()[:max_bytes].decode(errors="ignore").rstrip()


def related_sk(ref: str, relation: str, party_key: str) -> str:
    """Under the contact: one item per (ref, relation, party), so ``unrelate_parties`` finds a ref's items."""
    return f"RELATED#{ref}#{relation}#{cut_key(party_key, 800)}"  # room for the ref and relation


def company_partition(key: str, kind: str = "COMPANY") -> str:
    """Every company key that can match ``key`` (equal, or one extends the other) shares its first word."""
    return f"{kind}#{key.split(maxsplit=1)[0]}"


def lookup_keys(contact: Contact) -> dict[str, tuple[str, str] | None]:
    """``kind -> (gsi2pk, gsi2sk)`` of the contact's lookups; ``None`` where it has no such key."""
    company = cut_key(company_key(contact.company))
    name = cut_key(name_key(contact.name))
    domain = cut_key(email_domain(contact.email) or "")
    return {
        "COMPANY": (company_partition(company), company) if company else None,
        "NAME": (f"NAME#{name}", name) if name else None,
        "DOMAIN": (f"DOMAIN#{domain}", domain) if domain else None,
    }


def lookup_writes(table: str, contact: Contact) -> list[dict[str, Any]]:
    """Transaction items that make the lookup items say what ``contact`` says (put or delete)."""
    pk = contact_pk(contact.contact_id)
    writes: list[dict[str, Any]] = []
    for kind, keys in lookup_keys(contact).items():
        key = {"pk": pk, "sk": lookup_sk(kind)}
        if keys is None:
            writes.append({"Delete": {"TableName": table, "Key": serialize(key)}})
        else:
            item = {**key, "gsi2pk": keys[0], "gsi2sk": keys[1]}
            writes.append({"Put": {"TableName": table, "Item": serialize(item)}})
    return writes


def _to_model(model: type[ModelT], item: Item) -> ModelT:
    """Keep only the model's fields: key attributes and unknown (newer) attributes are dropped."""
    values = deserialize(item)
    return model.model_validate({k: v for k, v in values.items() if k in model.model_fields})


class DynamoDbCrm:
    """``CrmPort`` on DynamoDB. The client comes from ``functions.shared.aws.client`` on every call
    (it is cached there), so ``reset_clients()`` and test stubs take effect immediately."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    # -- contacts ------------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        with aws_errors("crm.get_contact"):
            response = self._ddb.get_item(
                TableName=self.table_name,
                Key=serialize({"pk": contact_pk(contact_id), "sk": PROFILE_SK}),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _to_model(Contact, item) if item else None

    def find_contact_by_email(self, email: str) -> Contact | None:
        wanted = normalise_email(email)
        with aws_errors("crm.find_contact_by_email"):
            pages = self._ddb.get_paginator("query").paginate(
                TableName=self.table_name,
                IndexName=EMAIL_INDEX,
                KeyConditionExpression="gsi1pk = :email",
                ExpressionAttributeValues=serialize({":email": email_gsi_pk(wanted)}),
            )
            contact_ids = [
                cast(str, deserialize(hit)["pk"]).removeprefix("CONTACT#")
                for page in pages
                for hit in page.get("Items", [])
            ]
        # The index is eventually consistent: confirm on the (strongly read) profile itself.
        for contact_id in contact_ids:
            contact = self.get_contact(contact_id)
            if contact is not None and normalise_email(contact.email) == wanted:
                return contact
        return None

    def put_contact(self, contact: Contact) -> None:
        writes = [{"Put": {"TableName": self.table_name, "Item": self._profile_item(contact)}}]
        with aws_errors("crm.put_contact"):
            self._ddb.transact_write_items(TransactItems=writes + lookup_writes(self.table_name, contact))

    def create_contact(self, contact: Contact) -> bool:
        return self._put_if(contact, "attribute_not_exists(pk)", {}, {}, "crm.create_contact")

    def replace_contact(self, contact: Contact, *, expected_status: ContactStatus) -> bool:
        return self._put_if(
            contact,
            "#status = :expected",
            {"#status": "status"},
            {":expected": expected_status},
            "crm.replace_contact",
        )

    def _put_if(
        self, contact: Contact, condition: str, names: dict[str, str], values: dict[str, Any], operation: str
    ) -> bool:
        """Write the profile and its lookups in one transaction, if ``condition`` holds on the profile."""
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": self._profile_item(contact),
            "ConditionExpression": condition,
        }
        if names:
            put["ExpressionAttributeNames"] = names
        if values:
            put["ExpressionAttributeValues"] = serialize(values)
        try:
            self._ddb.transact_write_items(
                TransactItems=[{"Put": put}, *lookup_writes(self.table_name, contact)]
            )
        except ClientError as exc:
            if first_condition_failed(exc):  # the profile's condition failed: nothing was written
                return False
            raise map_client_error(exc, operation=operation) from exc
        except BotoCoreError as exc:
            raise map_client_error(exc, operation=operation) from exc
        return True

    @staticmethod
    def _profile_item(contact: Contact) -> Item:
        return serialize(
            {
                "pk": contact_pk(contact.contact_id),
                "sk": PROFILE_SK,
                "gsi1pk": email_gsi_pk(contact.email),
                "gsi1sk": contact_pk(contact.contact_id),
                **contact.model_dump(),
            }
        )

    def find_contacts(
        self,
        *,
        company: str | None = None,
        email_domain: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[Contact]:
        query = ContactQuery.of(company=company, email_domain=email_domain, name=name)
        contact_ids: set[str] = set()
        if query.company:
            contact_ids |= {hit["pk"] for hit in self._company_hits(cut_key(query.company))}
        if query.name:
            contact_ids |= {hit["pk"] for hit in self._lookup(f"NAME#{cut_key(query.name)}")}
        if query.email_domain:
            contact_ids |= {hit["pk"] for hit in self._lookup(f"DOMAIN#{cut_key(query.email_domain)}")}
        # The index is eventually consistent: read the profiles strongly, in id order, and match
        # them again; stop reading once ``limit`` matched.
        ordered = sorted(c.removeprefix("CONTACT#") for c in contact_ids)
        found: list[Contact] = []
        while ordered and (limit is None or len(found) < limit):
            batch_size = _BATCH_GET_SIZE if limit is None else min(_BATCH_GET_SIZE, limit - len(found))
            batch, ordered = ordered[:batch_size], ordered[batch_size:]
            found += sorted(
                (
                    c
                    for c in self._get_contacts(batch)
                    if query.matches(company=c.company, email=c.email, name=c.name)
                ),
                key=lambda c: c.contact_id,
            )
        return found

    def set_status(
        self, contact_id: str, status: ContactStatus, *, expected: ContactStatus | None = None
    ) -> ContactStatus:
        names = {"#status": "status", "#updated": "updated_at"}
        values: dict[str, Any] = {":new": status, ":now": utc_now_iso()}
        update = "SET #status = :new, #updated = :now"
        if status == "do_not_contact":
            update += ", #dnc = :dnc"
            names["#dnc"] = "do_not_contact"
            values[":dnc"] = True
        previous = transition_status(
            self._ddb,
            table=self.table_name,
            key={"pk": contact_pk(contact_id), "sk": PROFILE_SK},
            operation="crm.set_status",
            update=update,
            names=names,
            values=values,
            expected=expected,
            unknown=lambda: BusinessRuleError(f"crm.set_status: unknown contact {contact_id}"),
            conflict=lambda actual: StatusConflict(
                contact_id, expected=cast(ContactStatus, expected), actual=cast(ContactStatus, actual)
            ),
            default="new",
        )
        return cast(ContactStatus, previous)

    # -- related parties -----------------------------------------------------------------------
    def relate_party(self, related: RelatedParty) -> None:
        key = cut_key(company_key(related.party))
        if not key:
            raise BusinessRuleError(f"crm.relate_party: {related.party!r} has no name to match on")
        item = {
            "pk": contact_pk(related.contact_id),
            "sk": related_sk(related.ref, related.relation, key),
            "gsi2pk": company_partition(key, "PARTY"),
            "gsi2sk": key,
            **related.model_dump(),
        }
        with aws_errors("crm.relate_party"):
            self._ddb.put_item(TableName=self.table_name, Item=serialize(item))

    def unrelate_parties(self, contact_id: str, ref: str) -> None:
        for item in self._query_prefix(contact_id, f"RELATED#{ref}#", "crm.unrelate_parties"):
            with aws_errors("crm.unrelate_parties"):
                self._ddb.delete_item(TableName=self.table_name, Key={"pk": item["pk"], "sk": item["sk"]})

    def find_related(self, party: str) -> list[RelatedParty]:
        key = cut_key(company_key(party))
        if not key:
            return []
        hits = self._company_hits(key, "PARTY", "crm.find_related")
        # The index is eventually consistent: read the items strongly (a deleted one is gone).
        items = self._batch_get([{"pk": h["pk"], "sk": h["sk"]} for h in hits], "crm.find_related")
        found = [_to_model(RelatedParty, item) for item in items]
        return sorted(
            (r for r in found if same_company(r.party, party)),
            key=lambda r: (r.contact_id, r.ref, r.relation, r.party),
        )

    # -- deals ---------------------------------------------------------------------------------
    def list_deals(self, contact_id: str) -> list[Deal]:
        return [_to_model(Deal, item) for item in self._query_prefix(contact_id, "DEAL#", "crm.list_deals")]

    def put_deal(self, deal: Deal) -> None:
        item = serialize(
            {"pk": contact_pk(deal.contact_id), "sk": deal_sk(deal.deal_id), **deal.model_dump()}
        )
        with aws_errors("crm.put_deal"):
            self._ddb.put_item(TableName=self.table_name, Item=item)

    # -- activities ----------------------------------------------------------------------------
    def log_activity(self, activity: Activity) -> None:
        pk = contact_pk(activity.contact_id)
        sk = activity_sk(activity)
        marker = serialize({"pk": pk, "sk": activity_marker_sk(activity.activity_id), "activity_sk": sk})
        item = serialize({"pk": pk, "sk": sk, **activity.model_dump()})
        if write_once(
            self._ddb, table=self.table_name, marker=marker, item=item, operation="crm.log_activity"
        ):
            logger.info(
                "activity already logged",
                activity_id=activity.activity_id,
                contact_id=activity.contact_id,
                kind=activity.kind,
            )

    def list_activities(self, contact_id: str) -> list[Activity]:
        items = self._query_prefix(contact_id, "ACTIVITY#", "crm.list_activities")
        return [_to_model(Activity, item) for item in items]

    def list_client_touches(self, *, segment: int = 0, segments: int = 1) -> list[ClientTouch]:
        """One parallel-scan segment: profiles and activity items of the same contacts (a segment
        holds whole partitions), so the latest activity comes from the scan, not a query per client.
        An activity's sort key starts with its fixed-width UTC time, so the greatest is the latest."""
        profiles: dict[str, Contact] = {}
        latest: dict[str, tuple[str, str]] = {}  # contact id → (activity sk, at)
        with aws_errors("crm.list_client_touches"):
            pages = self._ddb.get_paginator("scan").paginate(
                TableName=self.table_name,
                Segment=segment,
                TotalSegments=segments,
                FilterExpression="sk = :profile OR begins_with(sk, :activity)",
                ExpressionAttributeValues=serialize({":profile": PROFILE_SK, ":activity": "ACTIVITY#"}),
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    values = deserialize(item)
                    contact_id = str(values["pk"]).removeprefix("CONTACT#")
                    sk = str(values["sk"])
                    if sk == PROFILE_SK:
                        profiles[contact_id] = _to_model(Contact, item)
                    elif contact_id not in latest or sk > latest[contact_id][0]:
                        latest[contact_id] = (sk, str(values["at"]))
        return [
            ClientTouch(contact=contact, last_activity_at=latest[cid][1] if cid in latest else None)
            for cid, contact in sorted(profiles.items())
            if contact.status in CLIENT_STATUSES
        ]

    # -- helpers -------------------------------------------------------------------------------
    def _company_hits(
        self, wanted: str, kind: str = "COMPANY", operation: str = "crm.find_contacts"
    ) -> list[dict[str, str]]:
        """Index entries (``pk``, ``sk``, ``gsi2sk``) whose company key is ``wanted``, a word prefix
        of it, or it plus more words.

        One query per shorter word prefix (``gsi2sk = "acme"`` for "acme logistics") and one
        ``begins_with`` for the key itself and its extensions: only same-company entries are read,
        however many share the first word.
        """
        words = wanted.split()
        partition = company_partition(wanted, kind)
        hits = [
            hit
            for n in range(1, len(words))
            for hit in self._lookup(partition, "gsi2sk = :sk", " ".join(words[:n]), operation)
        ]
        hits += self._lookup(partition, "begins_with(gsi2sk, :sk)", wanted, operation)
        return [hit for hit in hits if same_company_key(hit["gsi2sk"], wanted)]

    def _lookup(
        self,
        gsi2pk: str,
        sort_condition: str | None = None,
        sort_value: str = "",
        operation: str = "crm.find_contacts",
    ) -> list[dict[str, str]]:
        """The lookup index's entries (``pk``, ``sk``, ``gsi2sk``) under one key, maybe narrowed."""
        condition = "gsi2pk = :key" + (f" AND {sort_condition}" if sort_condition else "")
        values = {":key": gsi2pk, **({":sk": sort_value} if sort_condition else {})}
        with aws_errors(operation):
            pages = self._ddb.get_paginator("query").paginate(
                TableName=self.table_name,
                IndexName=LOOKUP_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=serialize(values),
            )
            return [cast(dict[str, str], deserialize(hit)) for page in pages for hit in page.get("Items", [])]

    def _get_contacts(self, contact_ids: Iterable[str]) -> list[Contact]:
        """Profiles by id, strongly consistent, in batches (unknown ids are left out)."""
        keys = [{"pk": contact_pk(i), "sk": PROFILE_SK} for i in contact_ids]
        return [_to_model(Contact, item) for item in self._batch_get(keys, "crm.find_contacts")]

    def _batch_get(self, keys: list[dict[str, str]], operation: str) -> list[Item]:
        """Items by key, strongly consistent, in batches (missing items are left out)."""
        items: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET_SIZE):
            batch = [serialize(key) for key in keys[start : start + _BATCH_GET_SIZE]]
            request: dict[str, Any] = {self.table_name: {"Keys": batch, "ConsistentRead": True}}
            for round_ in range(_BATCH_GET_ROUNDS):
                with aws_errors(operation):
                    response = self._ddb.batch_get_item(RequestItems=request)
                items.extend(response.get("Responses", {}).get(self.table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if round_ < _BATCH_GET_ROUNDS - 1:
                    time.sleep(0.05 * 2**round_)
            else:
                raise TransientIntegrationError(f"{operation}: BatchGetItem left keys unprocessed")
        return items

    def _query_prefix(self, contact_id: str, prefix: str, operation: str) -> list[Item]:
        with aws_errors(operation):
            pages = self._ddb.get_paginator("query").paginate(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=serialize({":pk": contact_pk(contact_id), ":prefix": prefix}),
                ConsistentRead=True,
            )
            return [item for page in pages for item in page.get("Items", [])]
