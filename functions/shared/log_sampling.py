"""Per-run log sampling: a run logs everything or only warnings and errors, decided once per run.

The decision is a stable hash of the trace id (the execution name), so every step of a run, every
retry and every Lambda instance decides the same way without sharing any state: a sampled run is
complete in the logs, and the others cost only their warnings and errors.

It is applied with a logging filter reading a context variable rather than by changing the logger's
level: the level is process-wide, and locally several runs execute steps at the same time on
different threads, so a per-invocation level would leak from one run into another. The logger's
configured level (``POWERTOOLS_LOG_LEVEL``) still bounds what a sampled run logs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_HASH_SPACE = 2**64

#: Whether the invocation running in this context belongs to a sampled run. Outside a step (the
#: API, the sweeper, tools) nothing is sampled away.
_run_sampled: ContextVar[bool] = ContextVar("stepwise_run_sampled", default=True)


def sample_position(trace_id: str) -> float:
    """Where ``trace_id`` falls in [0, 1): the first 8 bytes of its sha256, as a fraction."""
    digest = hashlib.sha256(trace_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE


def is_sampled(trace_id: str, rate: float) -> bool:
    """True for about ``rate`` of all trace ids, always the same answer for one trace id."""
    return sample_position(trace_id) < rate


class RunSamplingFilter(logging.Filter):
    """Lets warnings and errors through always, everything else only for sampled runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _run_sampled.get()


@contextmanager
def run_sampling(trace_id: str, rate: float) -> Iterator[bool]:
    """Apply the run's decision to the records logged inside the block; yields the decision."""
    sampled = is_sampled(trace_id, rate)
    token = _run_sampled.set(sampled)
    try:
        yield sampled
    finally:
        _run_sampled.reset(token)
