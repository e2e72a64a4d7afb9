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

The parties come from the model, which reads untrusted intake text, so the rule does not rest on
them alone (design: "LLM output never opens a control"). The raw description is read by code too
(``text_names``): capitalised names, e-mail addresses and their domains, and every conflicts-index
alias it contains. A name the model did not place on either side (or placed as a witness or
"other") is checked against both rules: a client of the firm, a contact marked as an adverse party,
or a party one of the firm's clients is adverse to is a potential conflict the partner decides.
``missing_other_side`` sends a matter that should have another side, and has none extracted, to
the partner as well.
"""

from __future__ import annotations

import re
from typing import Any

from functions.law_firm_ops.models import ADVERSE, ADVERSE_ROLES, ClientIdentity, ConflictHit, Party
from functions.shared.contact_keys import email_domain, name_key, same_company
from functions.shared.ports.crm import CLIENT_STATUSES, Contact, CrmPort
from functions.shared.ports.files import FileStore

INDEX_KEY = "law_firm_ops/conflicts/index.json"
MAX_NOTES_CHARS = 4000
_ADVERSE_NOTE = re.compile(r"\badverse\s+party\b", re.IGNORECASE)
_CLIENT_NOTE = re.compile(r"\b(existing|current)\s+client\b", re.IGNORECASE)
_SUFFIXES = {"inc", "llc", "ltd", "corp", "co", "company", "corporation", "gmbh", "plc", "llp", "the"}
#: Matter types that always have another side: no extracted opposing party sends them to the partner.
CONTESTED_MATTER_TYPES: frozenset[str] = frozenset({"litigation"})
#: Words in the raw description that mean a dispute whatever type the model chose (it reads the
#: same untrusted text, so "other" is no reason to trust an empty other side).
_DISPUTE_CUES = re.compile(
    r"\b(sue[ds]?|suing|lawsuits?|litigation|disputes?|disputed|breach(?:ed|es)?|terminat\w*|"
    r"infring\w*|evict\w*|arbitration|claims? against|demand letter)\b",
    re.IGNORECASE,
)
#: Distinct names read from one description at most (each is one CRM lookup).
MAX_TEXT_NAMES = 24
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_HOST = re.compile(r"\b(?:https?://|www\.)([\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)
#: Capitalised words that start sentences rather than name anyone (a run of one of them is skipped).
_NOT_NAMES = frozenset(
    {"a", "an", "and", "as", "at", "but", "for", "he", "i", "if", "in", "it", "my", "no", "of", "on",
     "our", "please", "she", "so", "that", "the", "there", "they", "this", "we", "what", "when", "you"}
)  # fmt: skip
#: A word ending in "." that does not end the run ("Pinecrest Supply Co. and ...").
_ABBREVIATIONS = frozenset(
    {"co", "inc", "ltd", "corp", "llc", "llp", "plc", "jr", "sr", "st", "mr", "mrs", "ms", "dr"}
)


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


def _runs(text: str) -> list[tuple[list[str], bool]]:
    """Runs of capitalised words ("Pinecrest Supply Co", "Victor Hale"), split at punctuation, each
    with whether it starts a sentence (its first word may then be no name: "Yesterday Victor Hale")."""
    runs: list[tuple[list[str], bool]] = [([], True)]
    sentence_start = True
    for token in text.split():
        word = token.strip("\"'()[]{}<>*_`").rstrip(",;:!?")
        bare = word.rstrip(".")
        if bare and "@" not in bare and (bare[0].isupper() or bare == "&"):
            if not runs[-1][0]:
                runs[-1] = ([], sentence_start)
            runs[-1][0].append(bare)
        elif runs[-1][0]:
            runs.append(([], False))
        sentence_start = token.rstrip("\"')]}").endswith((".", "!", "?", ":"))
        ends_run = token.rstrip("\"')]}").endswith((",", ";", ":", "!", "?"))
        ends_run |= word.endswith(".") and bare.casefold() not in _ABBREVIATIONS
        if ends_run and runs[-1][0]:
            runs.append(([], False))
    return [run for run in runs if run[0]]


def text_names(text: str) -> list[str]:
    """Names code finds in untrusted text, without a model: each capitalised run, and, for a run of
    three or more words that starts a sentence, the run without its first word ("Yesterday Victor
    Hale" → "Victor Hale"); the first ``MAX_TEXT_NAMES`` distinct ones in the order they appear."""
    found: dict[str, str] = {}
    for words_read, starts_sentence in _runs(text):
        run = words_read[:-1] if words_read[-1] == "&" else words_read
        for words in (run, run[1:]) if starts_sentence and len(run) > 2 else (run,):
            name = " ".join(words).strip(" &")
            key = name_key(name)
            if key and key not in _NOT_NAMES and len(key) > 1:
                found.setdefault(key, name)
    return list(found.values())[:MAX_TEXT_NAMES]


def text_emails(text: str) -> tuple[list[str], list[str]]:
    """E-mail addresses in the text, and the company domains of those and of any web address."""
    emails = sorted({e.rstrip(".").lower() for e in _EMAIL.findall(text)})
    domains = {d for e in emails if (d := email_domain(e))}
    hosts = {host.rstrip(".").lower().removeprefix("www.") for host in _URL_HOST.findall(text)}
    domains |= {d for host in hosts if (d := email_domain("@" + host))}
    return emails, sorted(domains)


def missing_other_side(*, matter_type: str, description: str, parties: list[Party]) -> str | None:
    """Why a matter without an extracted opposing party still needs the partner (``None``: it does not)."""
    if any(p.role in ADVERSE_ROLES for p in parties):
        return None
    if matter_type in CONTESTED_MATTER_TYPES:
        return f"no opposing party was extracted for a {matter_type} matter, which always has one"
    cue = _DISPUTE_CUES.search(description)
    if cue is not None:
        return f'no opposing party was extracted, yet the intake describes a dispute ("{cue.group(0)}")'
    return None


_UNPLACED = "named in the intake text, on no side the model placed: "


class _Rule:
    """The conflict rule applied to contacts found for one intake; collects the hits once each."""

    def __init__(self, *, identity: ClientIdentity, crm: CrmPort, files: FileStore) -> None:
        self.identity, self.crm, self.files = identity, crm, files
        self.hits: dict[tuple[str, str], ConflictHit] = {}

    def add(self, contact_id: str, name: str, matched: str, reason: str) -> None:
        self.hits.setdefault(
            (contact_id, reason),
            ConflictHit(contact_id=contact_id, name=name, matched=matched, reason=reason),
        )

    def check(self, contact: Contact, matched: str, side: str) -> None:
        """``side``: "client", "other", or "either" (a name from the text the model did not place)."""
        notes = _notes(contact, self.files)
        if side in ("client", "either") and _ADVERSE_NOTE.search(notes):
            reason = "the CRM marks this contact as an adverse party of the firm"
        elif side == "other" and contact.status in CLIENT_STATUSES:
            reason = (
                "an existing client of the firm is on the other side of this matter"
                if contact.status == "client"
                else f"a client of the firm ({contact.status}) is on the other side of this matter"
            )
        elif side == "either" and contact.status in CLIENT_STATUSES:
            reason = f"a client of the firm ({contact.status}) is named in this matter"
        elif side in ("other", "either") and _CLIENT_NOTE.search(notes):
            reason = "the CRM notes say this contact is a client of the firm on another matter"
        else:
            return
        self.add(contact.contact_id, contact.name, matched, (_UNPLACED if side == "either" else "") + reason)

    def check_related(self, name: str, *, unplaced: bool) -> None:
        """Is ``name`` the other side of a matter the firm opened for another client?"""
        for related in self.crm.find_related(name):
            if related.relation != ADVERSE or related.contact_id == self.identity.client_id:
                continue
            client = self.crm.get_contact(related.contact_id)
            reason = f"the firm acts for this client against {related.party} (matter {related.ref})"
            self.add(
                related.contact_id,
                client.name if client else related.contact_id,
                name,
                (_UNPLACED if unplaced else "") + reason,
            )


def _found_in_text(
    aliases: list[str],
    index: dict[str, set[str]],
    emails: list[str],
    domains: list[str],
    *,
    crm: CrmPort,
    identity: ClientIdentity,
) -> list[tuple[Contact, str]]:
    """Contacts the raw text names by an indexed alias, an address or a company domain."""
    found: list[tuple[Contact, str]] = []
    for alias in aliases:
        found += [(c, alias) for c in filter(None, (crm.get_contact(i) for i in sorted(index[alias])))]
    for address in (e for e in emails if e != identity.email.lower()):
        by_email = crm.find_contact_by_email(address)
        found += [(by_email, address)] if by_email is not None else []
    own_domain = email_domain(identity.email)
    for domain in (d for d in domains if d != own_domain):
        found += [(c, domain) for c in crm.find_contacts(email_domain=domain, limit=MAX_TEXT_NAMES)]
    return found


def find_conflicts(
    *,
    identity: ClientIdentity,
    parties: list[Party],
    crm: CrmPort,
    files: FileStore,
    description: str = "",
) -> tuple[list[ConflictHit], list[str]]:
    """The conflicts (empty: clear) and the names that were checked.

    ``description`` is the raw intake text: the names, aliases and addresses in it that the model
    did not place as client or opposing party are checked against both sides (module docstring).
    """
    client_side = {identity.name, *([identity.company] if identity.company else [])}
    client_side |= {p.name for p in parties if p.role == "client"}
    other_side = {p.name for p in parties if p.role in ADVERSE_ROLES}
    placed = client_side | other_side

    def unplaced(name: str) -> bool:
        return not any(name_key(name) == name_key(p) or same_company(name, p) for p in placed)

    index = _index(files)
    either_side = {p.name for p in parties if p.name not in placed}
    either_side |= {name for name in text_names(description) if unplaced(name)}
    normalised_text = f" {normalise_name(description)} "
    aliases = [a for a in sorted(index) if a and f" {a} " in normalised_text and unplaced(a)]
    emails, domains = text_emails(description)
    own_domain = email_domain(identity.email)
    rule = _Rule(identity=identity, crm=crm, files=files)

    known = crm.find_contact_by_email(identity.email)
    if known is not None:
        rule.check(known, identity.email, "client")
    for colleague in crm.find_contacts(email_domain=own_domain, limit=MAX_TEXT_NAMES) if own_domain else []:
        rule.check(colleague, identity.email, "client")
    for side, names in (("client", client_side), ("other", other_side), ("either", either_side)):
        for name in sorted(names):
            for contact in _contacts_named(name, crm=crm, index=index):
                rule.check(contact, name, side)
    for contact, matched in _found_in_text(aliases, index, emails, domains, crm=crm, identity=identity):
        rule.check(contact, matched, "either")
    for name in sorted(client_side):
        rule.check_related(name, unplaced=False)
    for name in sorted(either_side):
        rule.check_related(name, unplaced=True)
    checked = sorted(client_side | other_side | either_side | set(emails) | set(domains))
    return sorted(rule.hits.values(), key=lambda h: (h.contact_id, h.reason)), checked


def describe(hits: list[ConflictHit]) -> str:
    return "; ".join(f"{h.matched} ↔ {h.contact_id} {h.name}: {h.reason}" for h in hits)
