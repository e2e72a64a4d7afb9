"""The AWS limits the local runtime enforces, and the helpers that enforce them.

Every number here is AWS's, with where it is documented; ``local/patches.py`` and
``local/dispatch.py`` only call into this module. What is enforced, and how it fails:

- **A function's timeout** (the registry's ``StepSpec.timeout_seconds``; as deployed, the
  template's ``Timeout``). An invocation runs on a :class:`InvocationClock`: *simulated* latency
  (``simulate_latency``, charged by the offline Claude transport per call or by the runtime per
  step), so a test sees a 60 s timeout without waiting 60 s. Real elapsed time counts only when
  ``STEPWISE_REAL_TIME_COUNTS=1``: locally every AWS call goes through moto, which is far slower
  than the service for some calls (a 10,000-appointment day's one index query per contact reads
  moto's whole table each time: minutes locally, milliseconds on DynamoDB), so counting it would
  fail runs AWS finishes, and more often the busier the machine. Crossing it fails the
  invocation as Lambda does under Step Functions: ``Sandbox.Timedout``, message
  ``RequestId: <id> Error: Task timed out after 60.00 seconds``. The handler stops where the
  deadline passed (nothing after it runs), and ``context.get_remaining_time_in_millis()`` counts
  the simulated time too.
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
- **256 KiB** (262,144 bytes of UTF-8 JSON) for every state's input and output and every task
  result: ``States.DataLimitExceeded``, which ``States.ALL`` does not catch (the error handling
  page: "a terminal error that can't be caught by the States.ALL error type"); naming it in
  ``ErrorEquals`` does. ``States.Runtime`` is not matched by ``States.ALL`` either (same page).
  https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
- **25,000 history events** per execution: event 25,000 is ``ExecutionFailed`` with
  ``States.Runtime`` / "The execution reached the maximum number of history events (25000)."
  (the shape AWS writes; nothing can catch it). A Distributed Map's child executions have their
  own histories and do not count in the parent's.
  https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-state-machine-executions

Not enforced: Lambda concurrency and burst limits, API request rates (StartExecution, state
transitions per second), the 6 MB synchronous Lambda response (moto's own check stands in), the
one-year execution duration, Map ``MaxConcurrency`` beyond what moto's threads give.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Step Functions: maximum input or output size for a task, state or execution (UTF-8 bytes).
PAYLOAD_LIMIT_BYTES = 256 * 1024
#: Step Functions: maximum execution history size (events) of a Standard execution.
HISTORY_EVENT_LIMIT = 25_000

#: Set to "1" to count real elapsed time against a function's timeout, on top of simulated latency.
REAL_TIME_ENV = "STEPWISE_REAL_TIME_COUNTS"

DATA_LIMIT_ERROR = "States.DataLimitExceeded"
RUNTIME_ERROR = "States.Runtime"
LAMBDA_TIMEOUT_ERROR = "Sandbox.Timedout"
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_EVENT_LIMIT})."
#: Errors ``States.ALL`` does not match (``ErrorEquals`` must name them).
NOT_CAUGHT_BY_STATES_ALL = frozenset({DATA_LIMIT_ERROR, RUNTIME_ERROR})


def payload_bytes(value: Any) -> int:
    """The size Step Functions measures: the UTF-8 bytes of the value as JSON (a string as is)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def within_payload_limit(value: Any) -> bool:
    return payload_bytes(value) <= PAYLOAD_LIMIT_BYTES


def timeout_message(request_id: str, timeout_seconds: float) -> str:
    """Lambda's ``errorMessage`` for a timed-out invocation (``errorType``: ``Sandbox.Timedout``)."""
    return f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"


class InvocationTimedOut(BaseException):
    """The invocation's deadline passed: a ``BaseException`` so a handler's ``except Exception``
    cannot swallow it (on Lambda the environment is stopped; nothing after that point runs)."""

    def __init__(self, clock: InvocationClock) -> None:
        super().__init__(timeout_message(clock.request_id, clock.timeout_seconds))
        self.clock = clock


@dataclass
class InvocationClock:
    """One invocation's elapsed time: its simulated latency (plus real time, where that counts).

    Simulated latency is kept per thread and the longest thread counts: calls a handler makes in
    parallel threads (each submitted with ``contextvars.copy_context().run``) overlap as they would.
    """

    timeout_seconds: float
    request_id: str
    started: float = field(default_factory=time.monotonic)
    #: Whether real elapsed time counts too (``STEPWISE_REAL_TIME_COUNTS=1``; see the module docstring).
    counts_real_time: bool = field(default_factory=lambda: os.environ.get(REAL_TIME_ENV) == "1")
    #: This thread's simulated seconds (a new thread starts at 0, even if its id is reused).
    _thread: threading.local = field(default_factory=threading.local)
    _longest: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def simulated_seconds(self) -> float:
        with self._lock:
            return self._longest

    def elapsed(self) -> float:
        real = time.monotonic() - self.started if self.counts_real_time else 0.0
        return real + self.simulated_seconds

    def remaining_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed()) * 1000))

    def timed_out(self) -> bool:
        return self.elapsed() > self.timeout_seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for this invocation; raise :class:`InvocationTimedOut` past the deadline."""
        total = getattr(self._thread, "seconds", 0.0) + max(0.0, seconds)
        self._thread.seconds = total
        with self._lock:
            self._longest = max(self._longest, total)
        if self.timed_out():
            raise InvocationTimedOut(self)


_CLOCK: contextvars.ContextVar[InvocationClock | None] = contextvars.ContextVar(
    "stepwise_invocation_clock", default=None
)


def current_clock() -> InvocationClock | None:
    return _CLOCK.get()


@contextmanager
def invocation(timeout_seconds: float, request_id: str) -> Iterator[InvocationClock]:
    """Run one invocation on its own clock (``simulate_latency`` inside it advances that clock)."""
    clock = InvocationClock(timeout_seconds=timeout_seconds, request_id=request_id)
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)


def simulate_latency(seconds: float) -> None:
    """Let ``seconds`` pass for the running invocation without sleeping (no invocation: nothing)."""
    clock = _CLOCK.get()
    if clock is not None:
        clock.advance(seconds)


# --- enforcement in moto's interpreter (installed by ``local/patches.py``) ----------------------


def lambda_result_within_limit(value: Any) -> bool:
    """moto checks a Lambda task's response (``{"Payload": result, ...}``); AWS, the result."""
    if isinstance(value, dict) and "Payload" in value:
        value = value["Payload"]
    return within_payload_limit(value)


def states_all_matches(error_name: str | None) -> bool:
    """Whether ``ErrorEquals: ["States.ALL"]`` matches an error of this name."""
    return error_name not in NOT_CAUGHT_BY_STATES_ALL


def history_limit_details() -> dict[str, str]:
    return {"error": RUNTIME_ERROR, "cause": HISTORY_LIMIT_CAUSE}


#: The events that end an execution: the one that would be number 25,000 is written, not dropped.
TERMINAL_EVENTS = frozenset(
    {"ExecutionFailed", "ExecutionSucceeded", "ExecutionAborted", "ExecutionTimedOut"}
)


@dataclass
class HistoryBudget:
    """One execution's history (one moto ``EventManager``): what happens at event 25,000.

    The event that would be number 25,000 is dropped and the execution is put in error instead
    (``root.set_error``), so its ``ExecutionFailed`` is event 25,000, as on AWS. Once exhausted,
    nothing but that ``ExecutionFailed`` is written (in-flight states and Map iterations still
    finishing publish nothing), and no later error replaces this one.
    """

    exhausted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, published: int, event_type: str) -> bool:
        """Whether the next event (``published`` are written) may be written."""
        if self.exhausted:
            return event_type == "ExecutionFailed"
        if published >= HISTORY_EVENT_LIMIT - 1 and event_type not in TERMINAL_EVENTS:
            self.exhausted = True
            return False
        return True
