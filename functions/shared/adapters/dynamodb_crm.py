"""CRM adapter on the single-table DynamoDB layout of ``functions.shared.tables`` (low-level client).

Items (all under ``pk = "CONTACT#<contact_id>"``):

- ``sk = "PROFILE"``: the contact, plus ``gsi1pk = "EMAIL#<normalised email>"``, ``gsi1sk = "CONTACT#<id>"``.
- ``sk = "DEAL#<deal_id>"``: a deal.
- ``sk = "ACTIVITY#<at, fixed-width UTC>#<activity_id>"``: an activity (so a query returns them in order).
- ``sk = "ACTIVITYID#<activity_id>"``: idempotency marker of an activity. ``log_activity`` writes marker
  and activity in one transaction, the marker guarded by ``attribute_not_exists(pk)``: a retry of the
  same activity id is ignored even when its ``at`` differs (a re-run step stamps a new time).

Values are plain strings/numbers/booleans: floats go in as ``Decimal`` and numbers come back as
``int`` (integral) or ``float``, so the models stay JSON-safe.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from pydantic import BaseModel

from functions.shared.adapters.dynamodb_items import Item, deserialize, serialize
from functions.shared.adapters.dynamodb_once import write_once
from functions.shared.adapters.dynamodb_status import transition_status
from functions.shared.adapters.errors import aws_errors
from functions.shared.aws import client
from functions.shared.errors import BusinessRuleError
from functions.shared.observability import logger
from functions.shared.ports.crm import (
    Activity,
    Contact,
    ContactStatus,
    Deal,
    StatusConflict,
    normalise_email,
    sortable_timestamp,
    utc_now_iso,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

PROFILE_SK = "PROFILE"
EMAIL_INDEX = "gsi1"


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
        item = serialize(
            {
                "pk": contact_pk(contact.contact_id),
                "sk": PROFILE_SK,
                "gsi1pk": email_gsi_pk(contact.email),
                "gsi1sk": contact_pk(contact.contact_id),
                **contact.model_dump(),
            }
        )
        with aws_errors("crm.put_contact"):
            self._ddb.put_item(TableName=self.table_name, Item=item)

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

    # -- helpers -------------------------------------------------------------------------------
    def _query_prefix(self, contact_id: str, prefix: str, operation: str) -> list[Item]:
        with aws_errors(operation):
            pages = self._ddb.get_paginator("query").paginate(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=serialize({":pk": contact_pk(contact_id), ":prefix": prefix}),
                ConsistentRead=True,
            )
            return [item for page in pages for item in page.get("Items", [])]
