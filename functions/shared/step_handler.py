"""The one decorator every step handler wears.

Every ASL Task passes the same envelope (see ``statemachines/README.md``)::

    {"payload.$": "$", "execution.$": "$$.Execution.Name", "state.$": "$$.State.Name",
     "attempt.$": "$$.State.RetryCount"}            (+ "taskToken.$": "$$.Task.Token" on callbacks)

The decorator parses it with the Powertools parser into ``StepEvent[Model]`` (a bad payload becomes
a typed ``InvalidInputError`` naming each field), binds the run's trace id to every log record,
applies the run's log sampling decision (``log_sampling``), writes one structured record per
invocation (input and output inline, or as S3 references when large: ``log_payloads``), emits
per-step metrics, and returns the domain result as a JSON-safe dict. The handler body stays one
call into a pure domain function.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from functions.shared.config import settings
from functions.shared.errors import ERROR_NAMES, InvalidInputError, StepwiseError
from functions.shared.idempotency import current_lambda_context
from functions.shared.log_payloads import PayloadKind, loggable
from functions.shared.log_sampling import run_sampling
from functions.shared.observability import logger, metrics, tracer
from functions.shared.requester import STARTED_BY_FIELD, current_requester

PayloadT = TypeVar("PayloadT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class StepEvent(BaseModel, Generic[PayloadT]):
    """The envelope a Task state sends to its Lambda."""

    model_config = ConfigDict(frozen=True)

    payload: PayloadT
    execution: str = Field(min_length=1, max_length=80)
    state: str = Field(min_length=1, max_length=80)
    attempt: int = Field(default=0, ge=0)
    # Only on ``.waitForTaskToken`` tasks. SecretStr keeps it out of reprs and logs.
    task_token: SecretStr | None = Field(default=None, alias="taskToken", max_length=2048)


class StepContext(BaseModel):
    """What a domain function may know about the invocation (never the raw event)."""

    model_config = ConfigDict(frozen=True)

    workflow: str
    step: str  # registry name of the Lambda
    state: str  # ASL state name (several states may share one step Lambda)
    execution: str  # execution name = the run's trace id
    attempt: int
    task_token: SecretStr | None = None

    @property
    def trace_id(self) -> str:
        return self.execution


#: The step running in this context (thread), for code that charges work to it (the LLM client's
#: run ledger and budget) without every call site passing the workflow along.
current_step: ContextVar[StepContext | None] = ContextVar("stepwise_current_step", default=None)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """``field: message; field: message`` — the same wording the API uses for 400s."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if prefix and loc.startswith(prefix):
            loc = loc[len(prefix) :]
        parts.append(f"{loc or '(root)'}: {err['msg']}")
    return "; ".join(parts)


def step_handler(
    payload_model: type[PayloadT],
) -> Callable[[Callable[[PayloadT, StepContext], BaseModel]], LambdaHandler]:
    """Turn ``fn(payload, ctx) -> Model`` into a Lambda handler for an ASL Task."""

    def decorate(fn: Callable[[PayloadT, StepContext], BaseModel]) -> LambdaHandler:
        # functions.<workflow>.<step> is the registry layout; the names come from it.
        _, workflow, step = fn.__module__.rsplit(".", 2)

        @functools.wraps(fn)
        def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            # Dimensions first, so that even an unparseable event counts against this step's alarm.
            metrics.clear_metrics()  # this invocation's dimensions only (steps share a process locally)
            metrics.add_dimension(name="workflow", value=workflow)
            metrics.add_dimension(name="step", value=step)
            event, requester = _without_started_by(event)
            try:
                parsed = parse(event=event, model=StepEvent[payload_model])  # type: ignore[valid-type]
            except ValidationError as exc:
                metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
                metrics.add_metric(name="StepFailed.InvalidInputError", unit=MetricUnit.Count, value=1)
                raise InvalidInputError(
                    f"{workflow}.{step}: invalid input: {describe_validation_error(exc, 'payload.')}"
                ) from exc
            ctx = StepContext(
                workflow=workflow,
                step=step,
                state=parsed.state,
                execution=parsed.execution,
                attempt=parsed.attempt,
                task_token=parsed.task_token,
            )
            with run_sampling(ctx.trace_id, settings().log_sample_rate) as sampled:
                # Thread-local keys: locally, steps of several runs execute at once in one process.
                logger.thread_safe_append_keys(
                    trace_id=ctx.trace_id,
                    correlation_id=ctx.trace_id,
                    workflow=workflow,
                    step=step,
                    state=ctx.state,
                    log_sampled=sampled,
                )
                requester_token = current_requester.set(requester)
                try:
                    return _invoke(fn, parsed, ctx, context)
                finally:
                    current_requester.reset(requester_token)

        handler: LambdaHandler = logger.inject_lambda_context(clear_state=True)(run)
        handler = tracer.capture_lambda_handler(capture_response=False)(handler)
        handler = metrics.log_metrics(handler)
        return handler

    return decorate


def _without_started_by(event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The event without the API's ``startedBy`` (no payload model declares it), and its owner.

    The API records the caller in the execution input (``functions/api/executions.py``); states that
    pass ``$`` on carry it to every step, and the approval steps need its owner (a requester never
    approves their own run), so it is read here once instead of in every input model.
    """
    payload = event.get("payload") if isinstance(event, dict) else None
    if not isinstance(payload, dict) or STARTED_BY_FIELD not in payload:
        return event, None
    rest = {k: v for k, v in payload.items() if k != STARTED_BY_FIELD}
    started = payload[STARTED_BY_FIELD]
    owner = started.get("owner") if isinstance(started, dict) else None
    return {**event, "payload": rest}, owner if isinstance(owner, str) else None


def _invoke(
    fn: Callable[[PayloadT, StepContext], BaseModel],
    parsed: StepEvent[PayloadT],
    ctx: StepContext,
    context: LambdaContext,
) -> dict[str, Any]:
    """Run the domain function; record its outcome in the logs and metrics."""
    started = time.perf_counter()
    lambda_token = current_lambda_context.set(context)
    step_token = current_step.set(ctx)
    try:
        result = fn(parsed.payload, ctx)
    except StepwiseError as exc:
        _record_failure(exc, ctx, started)
        registered = as_registered_error(exc)
        if registered is exc:
            raise
        raise registered from exc
    except Exception as exc:
        _record_failure(exc, ctx, started)
        raise
    finally:
        current_step.reset(step_token)
        current_lambda_context.reset(lambda_token)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    output = result.model_dump(mode="json")
    metrics.add_metric(name="StepSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="StepDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    if _info_is_logged():  # an unsampled run writes no record here, so no S3 reference either
        invocation = getattr(context, "aws_request_id", None) or "local"

        def payload(value: Any, kind: PayloadKind) -> Any:
            return loggable(
                value,
                trace_id=ctx.trace_id,
                step=ctx.step,
                attempt=ctx.attempt,
                invocation=invocation,
                kind=kind,
            )

        logger.info(
            "step succeeded",
            attempt=ctx.attempt,
            duration_ms=duration_ms,
            input=payload(ctx_input(parsed.payload), "input"),
            output=payload(output, "output"),
        )
    return output


def _info_is_logged() -> bool:
    """Would an INFO record of this invocation be written (logger level and run sampling)?"""
    probe = logging.LogRecord(logger.name, logging.INFO, __file__, 0, "", None, None)
    std_logger = logging.getLogger(logger.name)
    return std_logger.isEnabledFor(logging.INFO) and bool(std_logger.filter(probe))


def as_registered_error(exc: StepwiseError) -> StepwiseError:
    """The error under the nearest class name the ASL files know (``ERROR_NAMES``).

    Lambda reports ``errorType`` = the exception's own class name and ``Catch`` matches names, not
    inheritance: a ``StatusConflict(BusinessRuleError)`` must reach Step Functions as
    ``BusinessRuleError`` or no ``Catch`` would route it.
    """
    for cls in type(exc).__mro__:
        if cls.__name__ in ERROR_NAMES:
            if cls is type(exc):
                return exc
            registered: StepwiseError = cls(str(exc))
            return registered
    return exc


def ctx_input(payload: BaseModel) -> dict[str, Any]:
    return payload.model_dump(mode="json")


def _record_failure(exc: Exception, ctx: StepContext, started: float) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"StepFailed.{type(exc).__name__}", unit=MetricUnit.Count, value=1)
    # Typed errors are expected outcomes the ASL routes; anything else is a bug worth a traceback.
    if isinstance(exc, StepwiseError):
        logger.warning(
            "step failed",
            attempt=ctx.attempt,
            duration_ms=duration_ms,
            error=type(exc).__name__,
            cause=str(exc),
        )
    else:
        logger.exception(
            "step crashed", attempt=ctx.attempt, duration_ms=duration_ms, error=type(exc).__name__
        )
