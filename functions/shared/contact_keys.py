"""Lookup keys of a contact: how "the same company", "the same name" and "the same email domain" are decided.

The CRM port finds contacts by these keys (``CrmPort.find_contacts``) and both adapters, and the
DynamoDB adapter's lookup index, use the functions here, so every caller matches the same way:

- company: Unicode-normalised (NFKC) and case-folded, punctuation removed, legal suffixes (Ltd., Inc,
  GmbH, ...) and "the" dropped, so "Northwind Freight Ltd." and "northwind freight" share the key
  "northwind freight"; two companies are the same when the keys are equal or one is the other plus
  more words ("acme" ~ "acme logistics");
- name: the same normalisation without dropping words ("李明" and "Müller" keep their letters, full-width
  letters become plain ones; accents are kept, so "Muller" is not "Müller");
- email domain: the lower-cased domain, or none for public mailbox providers (a shared gmail.com
  says nothing about a shared company).

Anything fuzzier ("Pat" vs "Patrick") is for the entity-match model to decide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LEGAL_SUFFIXES = frozenset(
    {"ltd", "limited", "inc", "incorporated", "llc", "llp", "gmbh", "ag", "sa", "sas", "bv", "nv",
     "plc", "corp", "corporation", "co", "company", "pty", "srl", "oy", "ab", "the"}
)  # fmt: skip
_NON_WORD = re.compile(r"[\W_]+")
#: Mailbox providers: a shared domain there says nothing about a shared company.
PUBLIC_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
     "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de"}
)  # fmt: skip


def _words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split()


def company_key(company: str) -> str:
    """``"Northwind Freight Ltd."`` → ``"northwind freight"`` (empty when nothing is left)."""
    return " ".join(w for w in _words(company) if w not in _LEGAL_SUFFIXES)


def name_key(name: str) -> str:
    """``"  Ada  LOVELACE"`` → ``"ada lovelace"``."""
    return " ".join(_words(name))


def email_domain(email: str) -> str | None:
    """The company domain of an address, or None for public mailbox providers."""
    domain = email.strip().lower().rsplit("@", 1)[-1]
    return None if not domain or domain in PUBLIC_DOMAINS else domain


def same_company_key(key_a: str, key_b: str) -> bool:
    """Two company keys name the same company: equal, or one is the other plus more words."""
    if not key_a or not key_b:
        return False
    return key_a == key_b or key_a.startswith(key_b + " ") or key_b.startswith(key_a + " ")


def same_company(a: str, b: str) -> bool:
    return same_company_key(company_key(a), company_key(b))


@dataclass(frozen=True)
class ContactQuery:
    """What ``CrmPort.find_contacts`` was asked, normalised; an empty field matches nothing."""

    company: str = ""
    email_domain: str = ""
    name: str = ""

    @classmethod
    def of(
        cls, *, company: str | None = None, email_domain: str | None = None, name: str | None = None
    ) -> ContactQuery:
        return cls(company_key(company or ""), (email_domain or "").strip().lower(), name_key(name or ""))

    def __bool__(self) -> bool:
        return bool(self.company or self.email_domain or self.name)

    def matches(self, *, company: str, email: str, name: str) -> bool:
        """A contact with these fields matches at least one of the asked keys."""
        return (
            same_company_key(company_key(company), self.company)
            or (bool(self.email_domain) and email_domain(email) == self.email_domain)
            or (bool(self.name) and name_key(name) == self.name)
        )
