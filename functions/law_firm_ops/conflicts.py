"""The conflict-of-interest rule: deterministic, on CRM data, shared by the check and the waiver request.

Each checked name (the prospective client, its company, every party) is looked up in the CRM
itself, by person name and by company (``CrmPort.find_contacts``), so a client an earlier intake
created is found on the next one. The firm's conflicts index (a JSON file in file storage,
``law_firm_ops/conflicts/index.json``: ``{"entries": [{"contact_id", "names"}]}``, optional) adds
the names the CRM has no field for: former names, trading names, related parties. The decision
reads the CRM contact:

- the prospective client (by email, name or company) is a contact whose notes mark them as an
  adverse party of the firm ("adverse party"), or
- the prospective client (by name or company, or a client-side party) is the other side of a
  matter the firm opened for a client (OpenMatter records each as ``adverse`` to that client), or
- a party on the other side of this matter (role ``opposing_party``) is a contact with a client
  status (``client``, or ``dormant``: a client without recent activity is still the firm's
  client), or whose notes mark them as a client of the firm on another matter.
"""

from __future__ import annotations

import re
from typing import Any

from functions.law_firm_ops.models import ADVERSE, ADVERSE_ROLES, ClientIdentity, ConflictHit, Party
from functions.shared.ports.crm import CLIENT_STATUSES, Contact, CrmPort
from functions.shared.ports.files import FileStore

INDEX_KEY = "law_firm_ops/conflicts/index.json"
MAX_NOTES_CHARS = 4000
_ADVERSE_NOTE = re.compile(r"\badverse\s+party\b", re.IGNORECASE)
_CLIENT_NOTE = re.compile(r"\b(existing|current)\s+client\b", re.IGNORECASE)
_SUFFIXES = {"inc", "llc", "ltd", "corp", "co", "company", "corporation", "gmbh", "plc", "llp", "the"}


def normalise_name(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", " ", name.casefold().replace("&", " and ")).split()
    return " ".join(w for w in words if w not in _SUFFIXES)


def _index(files: FileStore) -> dict[str, set[str]]:
    if not files.exists(INDEX_KEY):
        return {}
    document: Any = files.get_json(INDEX_KEY)
    index: dict[str, set[str]] = {}
    for entry in document.get("entries", []):
        for name in entry.get("names", []):
            index.setdefault(normalise_name(str(name)), set()).add(str(entry["contact_id"]))
    return index


def _notes(contact: Contact, files: FileStore) -> str:
    if not contact.notes_key or not files.exists(contact.notes_key):
        return ""
    return files.get_text(contact.notes_key)[:MAX_NOTES_CHARS]


def _contacts_named(name: str, *, crm: CrmPort, index: dict[str, set[str]]) -> list[Contact]:
    """The CRM contacts a party name may be: by name or company in the CRM, or by an indexed alias."""
    found = {c.contact_id: c for c in crm.find_contacts(name=name, company=name)}
    for contact_id in sorted(index.get(normalise_name(name), set()) - found.keys()):
        contact = crm.get_contact(contact_id)
        if contact is not None:
            found[contact_id] = contact
    return [found[contact_id] for contact_id in sorted(found)]


def find_conflicts(
    *, identity: ClientIdentity, parties: list[Party], crm: CrmPort, files: FileStore
) -> tuple[list[ConflictHit], list[str]]:
    """The conflicts (empty: clear) and the names that were checked."""
    client_side = {identity.name, *([identity.company] if identity.company else [])}
    client_side |= {p.name for p in parties if p.role == "client"}
    other_side = {p.name for p in parties if p.role in ADVERSE_ROLES}
    index = _index(files)
    hits: dict[tuple[str, str], ConflictHit] = {}

    def check(contact: Contact, matched: str, side: str) -> None:
        notes = _notes(contact, files)
        if side == "client" and _ADVERSE_NOTE.search(notes):
            reason = "the CRM marks this contact as an adverse party of the firm"
        elif side == "other" and contact.status in CLIENT_STATUSES:
            reason = (
                "an existing client of the firm is on the other side of this matter"
                if contact.status == "client"
                else f"a client of the firm ({contact.status}) is on the other side of this matter"
            )
        elif side == "other" and _CLIENT_NOTE.search(notes):
            reason = "the CRM notes say this contact is a client of the firm on another matter"
        else:
            return
        hits.setdefault(
            (contact.contact_id, reason),
            ConflictHit(contact_id=contact.contact_id, name=contact.name, matched=matched, reason=reason),
        )

    known = crm.find_contact_by_email(identity.email)
    if known is not None:
        check(known, identity.email, "client")
    for side, names in (("client", client_side), ("other", other_side)):
        for name in sorted(names):
            for contact in _contacts_named(name, crm=crm, index=index):
                check(contact, name, side)
    for name in sorted(client_side):
        for related in crm.find_related(name):
            if related.relation != ADVERSE or related.contact_id == identity.client_id:
                continue
            client = crm.get_contact(related.contact_id)
            reason = f"the firm acts for this client against {related.party} (matter {related.ref})"
            hits.setdefault(
                (related.contact_id, reason),
                ConflictHit(
                    contact_id=related.contact_id,
                    name=client.name if client else related.contact_id,
                    matched=name,
                    reason=reason,
                ),
            )
    checked = sorted(client_side | other_side)
    return sorted(hits.values(), key=lambda h: (h.contact_id, h.reason)), checked


def describe(hits: list[ConflictHit]) -> str:
    return "; ".join(f"{h.matched} ↔ {h.contact_id} {h.name}: {h.reason}" for h in hits)
