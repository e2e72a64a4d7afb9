"""What makes a client dormant: the one rule the referral flow and the re-engagement sweep share.

A candidate is a CRM contact with a client status ("client" or "dormant", ``CLIENT_STATUSES``)
that is not flagged do-not-contact. It is dormant when its status is "dormant", or when its last
touch is at least ``after_days`` days old. The last touch is its latest CRM activity, or, without
any activity, its profile's last update. Longest silent first, then by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.shared.ports.crm import CLIENT_STATUSES, Contact, parse_timestamp

#: The default threshold (days without any activity) of both flows.
DEFAULT_AFTER_DAYS = 90


@dataclass(frozen=True)
class DormantClient:
    contact: Contact
    last_touch: str  # ISO timestamp of the latest activity (or the profile's update)
    days_inactive: int
    reason: str  # "status dormant" | "no activity for N days (threshold T)"

    @property
    def order(self) -> tuple[datetime, str]:
        """Longest silent first, then by contact id."""
        return parse_timestamp(self.last_touch), self.contact.contact_id


def is_candidate(contact: Contact) -> bool:
    """A client of the business the rule may call dormant (never a lead, never do-not-contact)."""
    return contact.status in CLIENT_STATUSES and not contact.do_not_contact


def last_touch(contact: Contact, latest_activity_at: str | None) -> str:
    return latest_activity_at or contact.updated_at


def dormancy(
    contact: Contact, latest_activity_at: str | None, *, now: datetime, after_days: int
) -> DormantClient | None:
    """The client as a dormant one, or ``None`` if it is active (or not a candidate at all)."""
    if not is_candidate(contact):
        return None
    touched = last_touch(contact, latest_activity_at)
    days = (now - parse_timestamp(touched)).days
    if contact.status == "dormant":
        reason = "status dormant"
    elif days >= after_days:
        reason = f"no activity for {days} days (threshold {after_days})"
    else:
        return None
    return DormantClient(contact=contact, last_touch=touched, days_inactive=days, reason=reason)
