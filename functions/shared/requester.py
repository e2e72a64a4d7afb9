"""A requester never approves their own run (issue #19, design.md "Approvers are the server's decision").

The requester of a run is the accountable owner of the API client that started it
(``functions/shared/api_clients.py``). When the approver the directory would pick for a field is
that owner, the next allowed address that is not the owner takes the field; when the requester
named themselves, or nobody else is allowed, the start is refused with a field error. Kept apart
from ``approvers.py`` (what the directory allows) because this is about *who asks*, not the
directory's shape: one function both the API (before a start) and ``ApprovalService.create``
(before a link is sent) call.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

#: The requester of the run a step works for (``step_handler`` sets it from the state's
#: ``startedBy``, which the API put in the execution input), for ``ApprovalService.create``.
current_requester: ContextVar[str | None] = ContextVar("stepwise_current_requester", default=None)
#: The execution input's reserved field the API writes (never the caller: input models drop it).
STARTED_BY_FIELD = "startedBy"


class SelfApproval(ValueError):
    """The only approver left for a field is the requester."""


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def approver_other_than(requester: str | None, *, chosen: str, allowed: Sequence[str], named: bool) -> str:
    """``chosen`` unless it is the ``requester``: then the first other ``allowed`` address.

    ``named``: the request itself named ``chosen`` (a requester naming themselves is refused
    outright rather than silently rerouted, so the caller learns the rule).
    """
    if requester is None or not _same(chosen, requester):
        return chosen
    if named:
        raise SelfApproval("the requester's owner cannot approve their own run: leave it out or name another")
    for address in allowed:
        if not _same(address, requester):
            return address
    raise SelfApproval(
        "every approver the directory allows here is the requester's owner: nobody else can approve this run"
    )


def is_requester(requester: str | None, approver: str) -> bool:
    return requester is not None and _same(requester, approver)
