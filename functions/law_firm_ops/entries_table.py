"""The plain-text table of proposed time entries the attorney reviews, and its strict parser.

Format (``|``-separated; ``#`` lines are comments)::

    # ...instructions...
    source | date | minutes | description
    EV-1 | 2025-06-10 | 30 | Telephone conference with client regarding ...

The attorney may change minutes and descriptions and delete rows. Anything else (a new or
repeated source, another date, minutes out of bounds, a malformed row, a missing header) makes the
whole table invalid: nothing is posted from a table the parser had to guess about.
"""

from __future__ import annotations

import re

from functions.law_firm_ops.models import MIN_ENTRY_MINUTES, ProposalRow

HEADER = "source | date | minutes | description"
_MINUTES = re.compile(r"^[0-9]{1,4}$")
MAX_DESCRIPTION = 500


class TableError(ValueError):
    """The edited table is not valid; the message names every problem with its line number."""


def render(rows: list[ProposalRow], *, client: str, matter_id: str, attorney: str) -> str:
    lines = [
        f"# Proposed time entries for {client}, matter {matter_id}, attorney {attorney}.",
        "# Edit minutes or descriptions, or delete a row to drop an entry. Do not change source or date.",
        "# Minutes: a whole number from 6 up to what the calendar shows for the item.",
        HEADER,
        *[f"{r.source_id} | {r.date} | {r.minutes} | {r.description}" for r in rows],
    ]
    return "\n".join(lines) + "\n"


def parse(text: str, proposals: list[ProposalRow]) -> list[ProposalRow]:  # noqa: PLR0912 - one check per rule
    """The rows the attorney kept, validated against the proposals; ``TableError`` otherwise."""
    by_source = {p.source_id: p for p in proposals}
    errors: list[str] = []
    parsed: list[ProposalRow] = []
    seen: set[str] = set()
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            if " | ".join(part.strip() for part in line.split("|")) != HEADER:
                errors.append(f"line {number}: expected the header {HEADER!r}")
                break
            header_seen = True
            continue
        parts = [part.strip() for part in line.split("|", 3)]
        if len(parts) != 4:
            errors.append(f"line {number}: expected 4 columns separated by '|'")
            continue
        source, day, minutes_text, description = parts
        proposal = by_source.get(source)
        if proposal is None:
            errors.append(f"line {number}: source {source!r} was not proposed")
            continue
        if source in seen:
            errors.append(f"line {number}: source {source!r} appears twice")
            continue
        seen.add(source)
        if day != proposal.date:
            errors.append(f"line {number}: date {day!r} differs from the proposal's {proposal.date}")
        if not _MINUTES.fullmatch(minutes_text):
            errors.append(f"line {number}: minutes {minutes_text!r} is not a whole number")
            continue
        minutes = int(minutes_text)
        if not MIN_ENTRY_MINUTES <= minutes <= proposal.max_minutes:
            errors.append(
                f"line {number}: minutes {minutes} outside {MIN_ENTRY_MINUTES}..{proposal.max_minutes}"
            )
        if not 1 <= len(description) <= MAX_DESCRIPTION:
            errors.append(f"line {number}: description must be 1..{MAX_DESCRIPTION} characters")
        parsed.append(proposal.model_copy(update={"minutes": minutes, "description": description}))
    if not header_seen and not errors:
        errors.append(f"the header {HEADER!r} is missing")
    if errors:
        raise TableError("; ".join(errors))
    return parsed
