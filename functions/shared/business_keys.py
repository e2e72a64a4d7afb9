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
- ``logged_send``: the CRM activity that records a send ("email sent", "task sent"), keyed on the
  message it records. A rerun's send is a replay that returns the first message id, so its log is
  a replay too: the timeline never says an email went out twice when one did.

Which CRM activities are which (decided per kind, because a rerun *should* log again only when it
learned something new):

- a send or a publication (outreach ``email_sent``, no-show ``confirmation_requested`` and
  ``no_show_action_approved``, referral ``reengagement_sent``, ``case_study_published``): once per
  business action (``logged_send``, the deal for a publication);
- a failure, a person's rejection, a duplicate, a disqualification, "needs a human": a run fact.
  A second run that fails or is rejected again is a new event a person should see;
- a run's summary that reports what *this run* found besides its sends (law firm
  ``client_onboarded``: the unbilled time it recovered; referral ``referral_rewarded``: whether a
  dormant client was found): a run fact; the credit or invoice it names is the same one, by id.

A redrive keeps the execution name, so a run fact is once per execution across its redrives too.
Ids of records a run creates follow the same rule (law firm: the matter is client + description).
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


def logged_send(message_id: str) -> ActionKey:
    """The key of the activity that records a sent message: once per message, in any run."""
    return ActionKey(_join("action", "logged_send", message_id))


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
