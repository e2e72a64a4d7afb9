"""Every patch of moto internals, in one place (moto is pinned; see ``../shared/moto-notes.md``).

``tests/unit/test_moto_internals.py`` imports each target below and fails loudly, naming the path,
when a moto upgrade moves one. Each patch is applied by :class:`MotoPatches` and undone on exit.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

#: (module path, attribute) of every moto internal we touch.
LAMBDA_INVOKE = ("moto.awslambda_simple.models", "LambdaSimpleBackend")
RETRY_TIME = ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time")
WAIT_INTERVAL = (
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
    "WaitFunction",
)
BOTO_CLIENT_FOR = ("moto.stepfunctions.parser.asl.utils.boto_client", "boto_client_for")
CALLBACK_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "StateTaskServiceCallback",
)
TIMEOUT = ("moto.stepfunctions.parser.asl.component.common.timeouts.timeout", "Timeout")
RESOURCE_CONDITION = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource",
    "ResourceCondition",
)
VALIDATE_DEFINITION = ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend")
PARSER_PACKAGE = "moto.stepfunctions.parser"
INTERNALS = (
    VALIDATE_DEFINITION,
    LAMBDA_INVOKE,
    RETRY_TIME,
    WAIT_INTERVAL,
    BOTO_CLIENT_FOR,
    CALLBACK_TASK,
    TIMEOUT,
    RESOURCE_CONDITION,
)

InvokeFn = Callable[[str, bytes | str | None, dict[str, Any]], bytes]

#: Definitions moto's parser accepted in this process (the parse is deterministic in the text).
_VALID_DEFINITIONS: set[str] = set()


def resolve(target: tuple[str, str]) -> Any:
    module_name, attribute = target
    module = importlib.import_module(module_name)
    if not hasattr(module, attribute):
        raise AttributeError(
            f"moto internal moved: {module_name}.{attribute} (is moto still the pinned version?)"
        )
    return getattr(module, attribute)


def _parser_modules_using_boto_client() -> list[ModuleType]:
    package = importlib.import_module(PARSER_PACKAGE)
    found = []
    for info in pkgutil.walk_packages(package.__path__, prefix=PARSER_PACKAGE + "."):
        if ".resource_providers" in info.name:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # optional integrations moto itself cannot import here
            continue
        if getattr(module, "boto_client_for", None) is not None:
            found.append(module)
    return found


@dataclass
class MotoPatches:
    """Apply and undo the local runtime's patches.

    - Lambda invocations go to ``invoke`` (the in-process dispatcher) instead of moto's echo.
    - Retry backoff sleeps are skipped (``instant_retries``); the number of attempts is unchanged.
    - Wait states are skipped (``instant_waits``).
    - The interpreter's per-call boto clients are cached (2.3x throughput, see moto-notes).
    - The ``TimeoutSeconds`` of ``.waitForTaskToken`` tasks becomes ``callback_timeout(state name,
      declared seconds)``, asked each time such a state starts: moto runs timeouts in real time, and
      an approval's is three days.
    - A definition moto has validated once (a full ANTLR parse, about half of a runtime's start-up)
      is not parsed again by ``CreateStateMachine``: every test's runtime registers the same ASL
      files. Only successes are remembered, so an invalid definition is still refused every time;
      executions still parse their definition themselves.
    - moto's chatty Step Functions logger is quieted.
    """

    invoke: InvokeFn
    instant_retries: bool = True
    instant_waits: bool = True
    callback_timeout: Callable[[str, float], float] = lambda _state, seconds: seconds
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def apply(self) -> None:
        backend = resolve(LAMBDA_INVOKE)
        original_invoke = backend.invoke
        dispatch = self.invoke

        def invoke(
            self_: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            return dispatch(function_name, body, response_headers)

        backend.invoke = invoke
        self._undo.append(lambda: setattr(backend, "invoke", original_invoke))

        if self.instant_retries:
            module: Any = importlib.import_module(RETRY_TIME[0])
            original_time = resolve(RETRY_TIME)
            module.time = SimpleNamespace(
                sleep=lambda _seconds: None, time=time.time, monotonic=time.monotonic
            )
            self._undo.append(lambda: setattr(module, "time", original_time))

        if self.instant_waits:
            wait_cls = resolve(WAIT_INTERVAL)
            original_wait = wait_cls._wait_interval
            wait_cls._wait_interval = lambda _self, _env, _seconds: None
            self._undo.append(lambda: setattr(wait_cls, "_wait_interval", original_wait))

        self._scale_callback_timeouts()
        self._remember_valid_definitions()

        original_client_for = resolve(BOTO_CLIENT_FOR)
        cache: dict[tuple[str, str], Any] = {}
        lock = threading.Lock()

        def cached_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            if state_credentials is not None:
                return original_client_for(region, service, state_credentials)
            with lock:
                key = (region, service)
                if key not in cache:
                    cache[key] = original_client_for(region, service)
                return cache[key]

        for module in _parser_modules_using_boto_client():
            previous = module.boto_client_for
            module.boto_client_for = cached_client_for
            self._undo.append(lambda m=module, p=previous: setattr(m, "boto_client_for", p))  # type: ignore[misc]

        for name in ("moto.stepfunctions.parser", "moto.stepfunctions"):
            log = logging.getLogger(name)
            level = log.level
            # The interpreter logs every caught error as an exception; the timeline reports them.
            log.setLevel(
                logging.CRITICAL if not __import__("os").environ.get("STEPWISE_MOTO_DEBUG") else logging.DEBUG
            )
            self._undo.append(lambda lg=log, lv=level: lg.setLevel(lv))  # type: ignore[misc]

    def _remember_valid_definitions(self) -> None:
        backend_cls = resolve(VALIDATE_DEFINITION)
        original = backend_cls.__dict__["_validate_definition"]  # a staticmethod
        validate = original.__func__

        def remembering(definition: str) -> None:
            if definition not in _VALID_DEFINITIONS:
                validate(definition=definition)  # raises InvalidDefinition: not remembered
                _VALID_DEFINITIONS.add(definition)

        backend_cls._validate_definition = staticmethod(remembering)
        self._undo.append(lambda: setattr(backend_cls, "_validate_definition", original))

    def _scale_callback_timeouts(self) -> None:
        """Wrap the timeout of every callback task (not Lambda tasks, not the execution's own)."""
        callback_cls, timeout_cls = resolve(CALLBACK_TASK), resolve(TIMEOUT)
        wait_for_task_token = resolve(RESOURCE_CONDITION).WaitForTaskToken
        effective = self.callback_timeout

        class ScaledTimeout(timeout_cls):  # type: ignore[misc,valid-type]
            def __init__(self, inner: Any, state: str) -> None:
                self.inner, self.state = inner, state

            def is_default_value(self) -> bool:
                return bool(self.inner.is_default_value())

            def _eval_seconds(self, env: Any) -> float:
                return effective(self.state, float(self.inner._eval_seconds(env)))

        had_own = "from_state_props" in callback_cls.__dict__
        original = callback_cls.from_state_props

        def from_state_props(self_: Any, state_props: Any) -> None:
            original(self_, state_props)
            if self_.resource.condition == wait_for_task_token and not self_.timeout.is_default_value():
                self_.timeout = ScaledTimeout(self_.timeout, str(self_.name))

        callback_cls.from_state_props = from_state_props
        self._undo.append(
            (lambda: setattr(callback_cls, "from_state_props", original))
            if had_own
            else (lambda: delattr(callback_cls, "from_state_props"))
        )

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()
