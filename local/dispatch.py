"""In-process Lambda dispatch: moto's interpreter invokes a step, the real handler runs here.

Function names follow ``<prefix>-<workflow>-<step>``; the dispatcher imports the registered
handler, calls it with a Lambda-like context, and reports an exception the way Lambda does
(``x-amz-function-error: Unhandled`` + ``{"errorType": <class name>, "errorMessage": ...}``),
so ASL ``Retry``/``Catch`` match on the typed error names.

Each invocation runs on its own clock (``local/limits.py``): past the step's timeout it fails
with ``Sandbox.Timedout`` as on Lambda. ``simulate_latency`` charges a step (or ASL state)
simulated seconds per invocation, after its handler ran (its side effects happened, the
invocation still timed out: the harsher case); the offline Claude transport charges its own
per-call latency (``LocalRuntime.simulate_llm_latency``). Nothing sleeps.

Fault injection (``inject``) makes a step report an error for its next N invocations, either
before the handler runs (``when="before"``: nothing happened) or after it ran (``"after"``: the
side effect happened, the invocation still failed — the at-least-once case idempotency covers).
"""

from __future__ import annotations

import importlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from functions.registry import StepSpec, WorkflowSpec
from local import limits
from local.lambdas import FunctionError

FUNCTION_PREFIX = "stepwise"
ACCOUNT = "123456789012"


def function_name(workflow: WorkflowSpec, step: StepSpec) -> str:
    return f"{FUNCTION_PREFIX}-{workflow.name}-{step.name}"


def function_arn(region: str, workflow: WorkflowSpec, step: StepSpec) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name(workflow, step)}"


def load_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    """``functions.api.app.handler`` → that function, imported from this process's path."""
    module_name, attribute = handler.rsplit(".", 1)
    function: Callable[[dict[str, Any], Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return function


@dataclass
class LocalLambdaContext:
    """The attributes of ``LambdaContext`` that Powertools and our code read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    #: The invocation's clock (real + simulated time); without one, real time from now.
    clock: limits.InvocationClock | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.clock is None:
            self.clock = limits.InvocationClock(self.timeout_seconds, self.aws_request_id)

    def get_remaining_time_in_millis(self) -> int:
        assert self.clock is not None
        return self.clock.remaining_millis()


@dataclass
class Fault:
    error: str
    times: int
    when: Literal["before", "after"] = "before"
    message: str = "injected fault"


@dataclass
class Invocation:
    step: str
    state: str
    attempt: int
    error: str | None
    #: The invocation's simulated seconds (``simulate_latency``/``simulate_llm_latency``), what a
    #: benchmark models wall time from; 0 when nothing was simulated.
    simulated_s: float = 0.0


class InjectedFault(Exception):
    """Carries the injected error name; reported to Step Functions under that name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


#: Runs a function outside this process (the as-deployed runtime): (function name, event) → result;
#: an error the function reported is raised with its ``errorType`` as the exception's ``name``.
RemoteCall = Callable[[str, dict[str, Any]], Any]


@dataclass
class Dispatcher:
    region: str
    steps: dict[str, StepSpec]  # function name → step
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # step or state name → faults
    invocations: list[Invocation] = field(default_factory=list)
    #: step or ASL state name → simulated seconds each invocation takes (``simulate_latency``).
    latencies: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = field(default_factory=dict)
    #: When set, steps run there (their own process, asset and environment), not in this process.
    remote: RemoteCall | None = None

    @classmethod
    def for_workflows(cls, region: str, workflows: list[WorkflowSpec]) -> Dispatcher:
        return cls(region=region, steps={function_name(wf, s): s for wf in workflows for s in wf.steps})

    def inject(
        self, target: str, error: str, times: int = 1, when: Literal["before", "after"] = "before"
    ) -> None:
        """Make step (or ASL state) ``target`` fail with ``error`` for its next ``times`` invocations."""
        with self._lock:
            self.faults.setdefault(target, []).append(Fault(error=error, times=times, when=when))

    def simulate_latency(self, target: str, seconds: float) -> None:
        """Every invocation of step (or ASL state) ``target`` takes ``seconds`` more (simulated)."""
        with self._lock:
            self.latencies[target] = seconds

    def _latency(self, step: str, state: str) -> float:
        with self._lock:
            return self.latencies.get(state, self.latencies.get(step, 0.0))

    def _take_fault(self, step: str, state: str) -> Fault | None:
        with self._lock:
            for key in (state, step):
                for fault in self.faults.get(key, []):
                    if fault.times > 0:
                        fault.times -= 1
                        return fault
        return None

    def _handler(self, step: StepSpec) -> Callable[[dict[str, Any], Any], Any]:
        if step.handler not in self._handlers:
            self._handlers[step.handler] = load_handler(step.handler)
        return self._handlers[step.handler]

    def invoke(self, name_or_arn: str, body: bytes | str | None, response_headers: dict[str, Any]) -> bytes:
        name = name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        step = self.steps.get(name)
        if step is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error("ResourceNotFoundException", f"no registered step for function {name}")
        event = json.loads(body or "{}")
        state, attempt = str(event.get("state", step.name)), int(event.get("attempt", 0))
        fault = self._take_fault(step.name, state)
        request_id = str(uuid.uuid4())
        with limits.invocation(step.timeout_seconds, request_id) as clock:
            context = LocalLambdaContext(
                function_name=name,
                memory_limit_in_mb=step.memory_mb,
                invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}",
                timeout_seconds=step.timeout_seconds,
                aws_request_id=request_id,
                clock=clock,
            )
            try:
                if fault is not None and fault.when == "before":
                    raise InjectedFault(fault.error, f"{fault.message} ({fault.error}) before {state}")
                if self.remote is not None:
                    result = self.remote(name, event)
                else:
                    result = self._handler(step)(event, context)
                clock.advance(self._latency(step.name, state))
                if clock.timed_out():  # the step's simulated latency, or real time where it counts
                    raise limits.InvocationTimedOut(clock)
                encoded = json.dumps(result).encode()
                if fault is not None:
                    raise InjectedFault(fault.error, f"{fault.message} ({fault.error}) after {state} ran")
            except limits.InvocationTimedOut as exc:
                self._record(step.name, state, attempt, limits.LAMBDA_TIMEOUT_ERROR)
                response_headers["x-amz-function-error"] = "Unhandled"
                return _error(limits.LAMBDA_TIMEOUT_ERROR, str(exc))
            except Exception as exc:
                error = exc.name if isinstance(exc, InjectedFault | FunctionError) else type(exc).__name__
                self._record(step.name, state, attempt, error)
                response_headers["x-amz-function-error"] = "Unhandled"
                return _error(error, str(exc))
        self._record(step.name, state, attempt, None, clock.simulated_seconds)
        return encoded

    def _record(
        self, step: str, state: str, attempt: int, error: str | None, simulated_s: float = 0.0
    ) -> None:
        with self._lock:
            self.invocations.append(
                Invocation(step=step, state=state, attempt=attempt, error=error, simulated_s=simulated_s)
            )


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()
