"""Contact directory: the CRM contacts of a company (read-only), which the CRM port cannot list.

``CrmPort`` finds a contact by id or by exact email, nothing else; deduplicating by company and
finding a company's dormant clients need "every contact whose company looks like X". Until the
CRM port grows ``list_contacts(company=...)`` backed by an index, this module provides it:

- ``ContactDirectory``: the small interface the referral steps depend on;
- ``CrmTableDirectory``: scans the CRM table's contact profiles (``sk = "PROFILE"``) and matches
  companies in code. A scan reads the whole table: fine for a demo CRM, not for a large one
  (the follow-up is a ``COMPANY#<key>`` GSI in the CRM adapter);
- ``StaticDirectory``: a fixed list, for domain unit tests.

Company names are compared on a normalised key: lower-cased, punctuation removed, legal suffixes
(Ltd., Inc, GmbH, ...) and "the" dropped, so "Northwind Freight Ltd." and "northwind freight"
share the key "northwind freight". Anything fuzzier is for the entity-match model to decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from functions.shared.adapters.dynamodb_crm import PROFILE_SK
from functions.shared.adapters.dynamodb_items import deserialize, serialize
from functions.shared.adapters.errors import aws_errors
from functions.shared.aws import client
from functions.shared.ports.crm import Contact

_LEGAL_SUFFIXES = frozenset(
    {"ltd", "limited", "inc", "incorporated", "llc", "llp", "gmbh", "ag", "sa", "sas", "bv", "nv",
     "plc", "corp", "corporation", "co", "company", "pty", "srl", "oy", "ab", "the"}
)  # fmt: skip
_NON_WORD = re.compile(r"[^0-9a-z]+")
#: Mailbox providers: a shared domain there says nothing about a shared company.
_PUBLIC_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
     "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de"}
)  # fmt: skip


def company_key(company: str) -> str:
    """``"Northwind Freight Ltd."`` → ``"northwind freight"``."""
    words = [w for w in _NON_WORD.sub(" ", company.lower()).split() if w not in _LEGAL_SUFFIXES]
    return " ".join(words)


def name_key(name: str) -> str:
    return " ".join(_NON_WORD.sub(" ", name.lower()).split())


def email_domain(email: str) -> str | None:
    """The company domain of an address, or None for public mailbox providers."""
    domain = email.strip().lower().rsplit("@", 1)[-1]
    return None if domain in _PUBLIC_DOMAINS else domain


def same_company(a: str, b: str) -> bool:
    """Same normalised key, or one key is the other plus more words ("acme" ~ "acme logistics")."""
    key_a, key_b = company_key(a), company_key(b)
    if not key_a or not key_b:
        return False
    return key_a == key_b or key_a.startswith(key_b + " ") or key_b.startswith(key_a + " ")


@runtime_checkable
class ContactDirectory(Protocol):
    def contacts(self) -> Iterable[Contact]:
        """Every contact profile (any status)."""
        ...


def at_company(directory: ContactDirectory, company: str) -> list[Contact]:
    """Contacts whose company is the same as ``company`` (normalised), ordered by contact id."""
    return sorted(
        (c for c in directory.contacts() if same_company(c.company, company)), key=lambda c: c.contact_id
    )


def possible_duplicates(
    directory: ContactDirectory, *, name: str, email: str, company: str, limit: int = 10
) -> list[Contact]:
    """Contacts that might be this person: same company, same company email domain, or same name."""
    wanted_name, wanted_domain = name_key(name), email_domain(email)
    found = [
        c
        for c in directory.contacts()
        if same_company(c.company, company)
        or (wanted_domain is not None and email_domain(c.email) == wanted_domain)
        or name_key(c.name) == wanted_name
    ]
    return sorted(found, key=lambda c: c.contact_id)[:limit]


class CrmTableDirectory:
    """``ContactDirectory`` over the CRM's DynamoDB table (a filtered scan of the profiles)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def contacts(self) -> Iterable[Contact]:
        with aws_errors("crm.scan_contacts"):
            pages = (
                client("dynamodb")
                .get_paginator("scan")
                .paginate(
                    TableName=self.table_name,
                    FilterExpression="sk = :profile",
                    ExpressionAttributeValues=serialize({":profile": PROFILE_SK}),
                )
            )
            items: list[dict[str, Any]] = [item for page in pages for item in page.get("Items", [])]
        for item in items:
            values = deserialize(item)
            yield Contact.model_validate({k: v for k, v in values.items() if k in Contact.model_fields})


class StaticDirectory:
    """``ContactDirectory`` over a fixed list (domain unit tests)."""

    def __init__(self, contacts: Iterable[Contact]) -> None:
        self._contacts = list(contacts)

    def contacts(self) -> Iterable[Contact]:
        return list(self._contacts)


def get_directory() -> ContactDirectory:
    from functions.shared.config import settings

    return CrmTableDirectory(settings().crm_table)
