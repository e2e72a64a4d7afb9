"""In-process Lambda dispatch: moto's interpreter invokes a step, the real handler runs here.

Function names follow ``<prefix>-<workflow>-<step>``; the dispatcher imports the registered
handler, calls it with a Lambda-like context, and reports an exception the way Lambda does
(``x-amz-function-error: Unhandled`` + ``{"errorType": <class name>, "errorMessage": ...}``),
so ASL ``Retry``/``Catch`` match on the typed error names.

Fault injection (``inject``) makes a step report an error for its next N invocations, either
before the handler runs (``when="before"``: nothing happened) or after it ran (``"after"``: the
side effect happened, the invocation still failed — the at-least-once case idempotency covers).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from functions.registry import StepSpec, WorkflowSpec
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
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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


class InjectedFault(Exception):
    """Carries the injected error name; reported to Step Functions under that name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


#: Step Functions' limit on a state's input or output (and so on a task's result).
PAYLOAD_LIMIT_BYTES = 256 * 1024

#: Runs a function outside this process (the as-deployed runtime): (function name, event) → result;
#: an error the function reported is raised with its ``errorType`` as the exception's ``name``.
RemoteCall = Callable[[str, dict[str, Any]], Any]


@dataclass
class Dispatcher:
    region: str
    steps: dict[str, StepSpec]  # function name → step
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # step or state name → faults
    invocations: list[Invocation] = field(default_factory=list)
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
        context = LocalLambdaContext(
            function_name=name,
            memory_limit_in_mb=step.memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}",
            timeout_seconds=step.timeout_seconds,
        )
        try:
            if fault is not None and fault.when == "before":
                raise InjectedFault(fault.error, f"{fault.message} ({fault.error}) before {state}")
            if self.remote is not None:
                result = self.remote(name, event)
            else:
                result = self._handler(step)(event, context)
            encoded = json.dumps(result).encode()
            if self.remote is not None and len(encoded) > PAYLOAD_LIMIT_BYTES:
                raise InjectedFault(
                    "States.DataLimitExceeded",
                    f"{state} returned {len(encoded)} bytes; Step Functions' limit is {PAYLOAD_LIMIT_BYTES}",
                )
            if fault is not None:
                raise InjectedFault(fault.error, f"{fault.message} ({fault.error}) after {state} ran")
        except Exception as exc:
            error = exc.name if isinstance(exc, InjectedFault | FunctionError) else type(exc).__name__
            self._record(step.name, state, attempt, error)
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error(error, str(exc))
        self._record(step.name, state, attempt, None)
        return encoded

    def _record(self, step: str, state: str, attempt: int, error: str | None) -> None:
        with self._lock:
            self.invocations.append(Invocation(step=step, state=state, attempt=attempt, error=error))


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()
