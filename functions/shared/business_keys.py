"""What "the same action" means: the one place an irreversible step's idempotency key is derived.

An irreversible effect (an email, a credit, a posted time entry, a publication) must happen once
per *business* action, across Lambda retries, fresh executions of the same input and redrives.
Keying it on the execution name made every rerun a new action (a rerun of a day re-sent every
confirmation), so ``run_once`` takes only an ``ActionKey``, and the two ways to build one say
which kind of fact it is:

- ``business_action``: the identity of the action in the business (day + owner + appointment +
  kind, referral + reward, lead + campaign, deal, matter + letter, time source). A fresh run with the
  same identity returns the first result and does nothing.
- ``run_fact``: something *this run* found (a failure, a rejection, a duplicate): each run records
  its own, so it is keyed on the execution on purpose, never an action anyone receives.

The per-workflow meaning is documented in README.md (Reliability: exactly once across reruns).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionKey:
    """An idempotency key built by this module only (a plain string cannot be passed by mistake)."""

    value: str


def business_action(kind: str, *identity: str) -> ActionKey:
    """The key of a business action: the same ``kind`` and identity is the same action, in any run."""
    return ActionKey(_join("action", kind, *identity))


def run_fact(execution: str, kind: str, *identity: str) -> ActionKey:
    """The key of a fact about one run (its failure, its rejection): once per run, not per business."""
    return ActionKey(_join("run", execution, kind, *identity))


def text_identity(text: str) -> str:
    """A short stable identity of free text (a matter description), whitespace- and case-insensitive."""
    normalized = " ".join(text.split()).casefold()
    return hashlib.sha256(normalized.encode()).hexdigest()[:24]


def _join(*parts: str) -> str:
    for part in parts:
        if not part:
            raise ValueError(f"an idempotency key part is empty: {parts!r}")
    # Length-prefixed, so no choice of values can make two different identities collide.
    return "|".join(f"{len(part)}:{part}" for part in parts)
