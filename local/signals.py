"""What ``LocalRuntime.wait`` waits for, announced by the patched interpreter instead of polled.

``wait`` used to read each run's status and history every few milliseconds; each read is a moto
call that holds the GIL the execution thread needs. Now the interpreter (``local/patches.py``)
announces the two things a waiter cares about, and ``wait`` sleeps on a condition in between:

- an execution ended (moto reflected its final status);
- a callback (``.waitForTaskToken``) state started or stopped waiting for its token. Only then can
  a decision be delivered: moto drops a ``SendTaskSuccess`` that arrives while the state's Lambda
  is still running (AWS does not); a person is never that fast, a script is.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ExecutionSignals:
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _version: int = 0
    #: (execution name, state name) → callback waits in progress (a Map may run one state per item).
    _awaiting: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Names of the executions whose end the interpreter announced.
    _ended: set[str] = field(default_factory=set)

    @property
    def version(self) -> int:
        """Read before checking, pass to ``wait_for_change``: a change in between is never missed."""
        with self._changed:
            return self._version

    def changed(self) -> None:
        with self._changed:
            self._bump()

    def execution_ended(self, execution_arn: str) -> None:
        with self._changed:
            self._ended.add(execution_arn.rsplit(":", 1)[-1])
            self._bump()

    def has_ended(self, execution_name: str) -> bool:
        """The interpreter announced this execution's end (its final status is readable now)."""
        with self._changed:
            return execution_name in self._ended

    def callback_waiting(self, execution_arn: str, state: str, waiting: bool) -> None:
        key = (execution_arn.rsplit(":", 1)[-1], state)
        with self._changed:
            self._awaiting[key] += 1 if waiting else -1
            if self._awaiting[key] <= 0:
                del self._awaiting[key]
            self._bump()

    def awaiting_callback(self, execution_name: str, state: str | None = None) -> bool:
        """A callback state of this execution (``state``, or any) is waiting for its token now."""
        with self._changed:
            return any(
                name == execution_name and (state is None or state == waiting_state)
                for name, waiting_state in self._awaiting
            )

    def _bump(self) -> None:
        """A new version, and every waiter woken (the caller holds ``_changed``)."""
        self._version += 1
        self._changed.notify_all()

    def wait_for_change(self, seen_version: int, timeout_s: float) -> bool:
        """Sleep until something changed since ``seen_version`` (True) or ``timeout_s`` passed."""
        with self._changed:
            return self._changed.wait_for(lambda: self._version != seen_version, timeout=timeout_s)
