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
them alone (design: "LLM output never opens a control"). Only the prospect as the intake form names
it is the client side; a "client" the model adds (the other side, moved "with us" by an injection)
is checked on both sides. The raw description is read by code too: capitalised names
(``text_names``), uncapitalised words and word pairs looked up as companies, related parties and
people (``text_words``: "we supply brightwater studios"), e-mail addresses and their domains, and
every conflicts-index alias it contains. Names match after ``contact_keys`` normalisation (NFKC,
case-folded, punctuation and legal suffixes such as Inc/LLC/Ltd/GmbH dropped). A name the model did
not place on either side is checked against both rules: a client of the firm, a contact marked as an
adverse party, or a party one of the firm's clients is adverse to is a potential conflict the partner
decides. ``partner_concern`` sends the partner a matter whose text is longer than the check reads
(``unread_text``), or that should have another side and has none extracted (``missing_other_side``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from functions.law_firm_ops.models import ADVERSE, ADVERSE_ROLES, ClientIdentity, ConflictHit, Party
from functions.shared.contact_keys import company_key, email_domain, name_key, same_company
from functions.shared.ports.crm import CLIENT_STATUSES, Contact, CrmPort, RelatedParty
from functions.shared.ports.files import FileStore

INDEX_KEY = "law_firm_ops/conflicts/index.json"
MAX_NOTES_CHARS = 4000
_ADVERSE_NOTE = re.compile(r"\badverse\s+party\b", re.IGNORECASE)
_CLIENT_NOTE = re.compile(r"\b(existing|current)\s+client\b", re.IGNORECASE)
#: Matter types that normally have another side (an opponent, a counterparty, an employer or
#: employee): no extracted opposing party sends them to the partner. IP, real estate and "other"
#: often have none (a filing, a zoning permit) and go only when the text describes a dispute.
CONTESTED_MATTER_TYPES: frozenset[str] = frozenset({"litigation", "contract", "employment"})
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
    """The key an alias or a text is matched on: ``contact_keys.company_key`` (NFKC, case-folded,
    punctuation and legal suffixes such as Inc/LLC/Ltd/GmbH dropped) with "&" read as "and"."""
    return company_key(name.replace("&", " and "))


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


def text_names(text: str, limit: int | None = MAX_TEXT_NAMES) -> list[str]:
    """Names code finds in untrusted text, without a model: each capitalised run, and, for a run of
    three or more words that starts a sentence, the run without its first word ("Yesterday Victor
    Hale" → "Victor Hale"); the first ``limit`` distinct ones in the order they appear (a text with
    more is not read in full: ``unread_text``)."""
    found: dict[str, str] = {}
    for words_read, starts_sentence in _runs(text):
        run = words_read[:-1] if words_read[-1] == "&" else words_read
        for words in (run, run[1:]) if starts_sentence and len(run) > 2 else (run,):
            name = " ".join(words).strip(" &")
            key = name_key(name)
            if key and key not in _NOT_NAMES and len(key) > 1:
                found.setdefault(key, name)
    return list(found.values())[:limit]


def text_emails(text: str) -> tuple[list[str], list[str]]:
    """E-mail addresses in the text, and the company domains of those and of any web address."""
    emails = sorted({e.rstrip(".").lower() for e in _EMAIL.findall(text)})
    domains = {d for e in emails if (d := email_domain(e))}
    hosts = {host.rstrip(".").lower().removeprefix("www.") for host in _URL_HOST.findall(text)}
    domains |= {d for host in hosts if (d := email_domain("@" + host))}
    return emails, sorted(domains)


#: Uncapitalised words (and pairs of words) of one description looked up at most: each word is a
#: company and a related-party lookup, each pair a person-name lookup. More means the text is not
#: read in full, and the partner reads it (``unread_text``).
MAX_TEXT_WORDS = 120
#: Words that name nobody: skipped by the uncapitalised scan (a name made only of them is missed,
#: which is why the raw text is one of three readings, with the model's parties and the index).
_COMMON_WORDS = frozenset(
    {"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not",
    "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own",
    "please", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "will", "with", "would", "you", "your", "yours", "ago", "last", "next", "month",
    "months", "year", "years", "week", "weeks", "day", "days", "today", "yesterday", "tomorrow",
    "want", "wants", "need", "needs", "help", "advice", "asked", "ask", "says", "said", "told",
    "wrote", "sent", "send", "owes", "owe", "paid", "pay", "unpaid", "late", "early"}
)  # fmt: skip


def text_words(text: str) -> tuple[list[str], list[str]]:
    """What the capitalised scan misses ("we supply brightwater studios"): the distinct uncapitalised
    words of the text that are not common words, and each pair of adjacent such words with at least
    one uncapitalised (``"brightwater studios"``, ``"victor Hale"``), in ``contact_keys`` form."""
    words: dict[str, None] = {}
    pairs: dict[str, None] = {}
    previous: tuple[str, bool] | None = None
    for token in text.split():
        raw = token.strip("\"'()[]{}<>*_`.,;:!?")
        key = name_key(raw)
        if " " in key or "@" in raw or len(key) < 3 or key.isdigit() or key in _COMMON_WORDS:
            previous = None
            continue
        lower = not raw[:1].isupper()
        if lower:
            words.setdefault(key)
        if previous is not None and (lower or previous[1]):
            pairs.setdefault(f"{previous[0]} {key}")
        ends = token.rstrip("\"')]}").endswith((",", ";", ":", "!", "?", "."))
        previous = None if ends else (key, lower)
    return list(words), list(pairs)


def unread_text(description: str) -> str | None:
    """Why the text is not read in full (``None``: it is): more names or words than the check looks up."""
    names = len(text_names(description, limit=None))
    words, pairs = text_words(description)
    if names > MAX_TEXT_NAMES:
        return f"the intake text names {names} parties, more than the {MAX_TEXT_NAMES} the check looks up"
    if max(len(words), len(pairs)) > MAX_TEXT_WORDS:
        return f"the intake text has more uncapitalised words than the {MAX_TEXT_WORDS} the check looks up"
    return None


def missing_other_side(*, matter_type: str, description: str, parties: list[Party]) -> str | None:
    """Why a matter without an extracted opposing party still needs the partner (``None``: it does not)."""
    if any(p.role in ADVERSE_ROLES for p in parties):
        return None
    if matter_type in CONTESTED_MATTER_TYPES:
        article = "an" if matter_type[:1] in "aeiou" else "a"
        return f"no opposing party was extracted for {article} {matter_type} matter, which normally has one"
    cue = _DISPUTE_CUES.search(description)
    if cue is not None:
        return f'no opposing party was extracted, yet the intake describes a dispute ("{cue.group(0)}")'
    return None


def partner_concern(*, matter_type: str, description: str, parties: list[Party]) -> str | None:
    """Why the partner decides although no conflict was found (``None``: the check is clear)."""
    return unread_text(description) or missing_other_side(
        matter_type=matter_type, description=description, parties=parties
    )


_UNPLACED = "named in the intake text, on no side the model placed: "
_NOT_PROSPECT = "placed by the model on the client side, but not the prospective client: "


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

    def check(self, contact: Contact, matched: str, side: str, prefix: str = _UNPLACED) -> None:
        """``side``: "client" (the prospect), "other", or "either" (any other name: ``prefix`` says
        why it is checked on both sides)."""
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
        self.add(contact.contact_id, contact.name, matched, (prefix if side == "either" else "") + reason)

    def check_related(self, name: str, *, prefix: str = "") -> None:
        """Is ``name`` the other side of a matter the firm opened for another client?"""
        for related in self.crm.find_related(name):
            self.related(related, name, prefix=prefix)

    def related(self, related: RelatedParty, matched: str, *, prefix: str) -> None:
        if related.relation != ADVERSE or related.contact_id == self.identity.client_id:
            return
        client = self.crm.get_contact(related.contact_id)
        reason = f"the firm acts for this client against {related.party} (matter {related.ref})"
        self.add(related.contact_id, client.name if client else related.contact_id, matched, prefix + reason)


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


def _check_words(rule: _Rule, description: str, unplaced: Callable[[str], bool]) -> list[str]:
    """Checks what the uncapitalised words of the text name: a company or related party whose whole
    name is in the text (looked up by its first word), a person by a pair of words. Returns the
    names found (the text form)."""
    text = f" {normalise_name(description)} "
    words, pairs = text_words(description)
    found: set[str] = set()
    for word in words[:MAX_TEXT_WORDS]:
        for contact in rule.crm.find_contacts(company=word, limit=MAX_TEXT_NAMES):
            key = normalise_name(contact.company)
            if key and f" {key} " in text and unplaced(key):
                rule.check(contact, key, "either")
                found.add(key)
        for related in rule.crm.find_related(word):
            key = normalise_name(related.party)
            if key and f" {key} " in text and unplaced(key):
                rule.related(related, key, prefix=_UNPLACED)
                found.add(key)
    for pair in pairs[:MAX_TEXT_WORDS]:
        for contact in rule.crm.find_contacts(name=pair, limit=MAX_TEXT_NAMES) if unplaced(pair) else []:
            rule.check(contact, pair, "either")
            found.add(pair)
    return sorted(found)


def find_conflicts(
    *,
    identity: ClientIdentity,
    parties: list[Party],
    crm: CrmPort,
    files: FileStore,
    description: str = "",
) -> tuple[list[ConflictHit], list[str]]:
    """The conflicts (empty: clear) and the names that were checked.

    Only the prospect (the intake's name, company and address, not the model) is checked as the
    client side. A name the model placed on the client side that is not the prospect, and every
    name, alias and address in ``description`` (the raw intake text) that the model did not place,
    is checked against both sides (module docstring): a model told to put the other side "with
    us" does not skip the check.
    """
    prospect = {identity.name, *([identity.company] if identity.company else [])}

    def is_prospect(name: str) -> bool:
        return any(name_key(name) == name_key(p) or same_company(name, p) for p in prospect)

    second_clients = {p.name for p in parties if p.role == "client" and not is_prospect(p.name)}
    other_side = {p.name for p in parties if p.role in ADVERSE_ROLES}
    placed = prospect | other_side | second_clients

    def unplaced(name: str) -> bool:
        return not any(name_key(name) == name_key(p) or same_company(name, p) for p in placed)

    index = _index(files)
    either_side = {p.name for p in parties if unplaced(p.name)}
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
    for side, names, prefix in (
        ("client", prospect, ""),
        ("other", other_side, ""),
        ("either", second_clients, _NOT_PROSPECT),
        ("either", either_side, _UNPLACED),
    ):
        for name in sorted(names):
            for contact in _contacts_named(name, crm=crm, index=index):
                rule.check(contact, name, side, prefix)
    for contact, matched in _found_in_text(aliases, index, emails, domains, crm=crm, identity=identity):
        rule.check(contact, matched, "either")
    in_words = _check_words(rule, description, unplaced)
    for name in sorted(prospect):
        rule.check_related(name)
    for name in sorted(second_clients):
        rule.check_related(name, prefix=_NOT_PROSPECT)
    for name in sorted(either_side):
        rule.check_related(name, prefix=_UNPLACED)
    checked = sorted(placed | either_side | set(emails) | set(domains) | set(in_words))
    return sorted(rule.hits.values(), key=lambda h: (h.contact_id, h.reason)), checked


def describe(hits: list[ConflictHit]) -> str:
    return "; ".join(f"{h.matched} ↔ {h.contact_id} {h.name}: {h.reason}" for h in hits)
