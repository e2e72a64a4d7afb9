"""The one LLM client: structured output by forced tool use, validated, audited, priced.

Model text is treated like user input: it reaches the workflow only as a validated pydantic model,
the prompt and raw responses go to the audit store, and failures become the typed ASL errors.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from functions.shared.adapters.errors import map_client_error
from functions.shared.errors import (
    LLMFormatError,
    LLMOverloadedError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMRequestError,
    PermanentIntegrationError,
    StepwiseError,
    TransientIntegrationError,
)
from functions.shared.ledger import LedgerEntry, RunLedger, check_budget
from functions.shared.llm.audit import AuditStore, audit_key
from functions.shared.llm.playbook import Playbook
from functions.shared.llm.pricing import DEFAULT_PRICES, PriceTable, Usage
from functions.shared.llm.settings import LLMSettings
from functions.shared.observability import logger, metrics
from functions.shared.step_handler import current_step

if TYPE_CHECKING:
    # ``anthropic`` costs ~0.9 s to import: a step module that imports this client must not pay it
    # at import time. The SDK is loaded by the factory when the first client is built.
    import anthropic
    from anthropic.types import (
        Message,
        MessageParam,
        TextBlockParam,
        ToolChoiceToolParam,
        ToolResultBlockParam,
    )

T = TypeVar("T", bound=BaseModel)
Operation = Literal["classify", "extract", "choose_branch", "draft"]

# The Powertools logger: inside a step its records carry the run's trace id and follow its sampling.
log = logger

_REDACTED = "[REDACTED]"
_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")
_MAX_FIELD_ERRORS_IN_MESSAGE = 8
_MIN_KEY_LENGTH_TO_REDACT = 12
#: (model, tool) pairs whose prefix the API did not cache, already warned about in this process.
_UNCACHED_WARNED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class LLMCallContext:
    """Who is calling: the audit key and the run ledger are keyed on it."""

    trace_id: str  # the execution name
    step: str  # registry step name
    attempt: int  # Step Functions retry count of this step
    #: The workflow the budget cap and the ledger use; inside a step handler it defaults to the
    #: running step's workflow, so the steps need not pass it.
    workflow: str | None = None
    #: Which item of the step's input this call is about, when one attempt calls once per item
    #: (it keeps each call's audit record: ``audit/<trace>/<step>/<attempt>-<item>.json``).
    item: str | None = None

    def resolved_workflow(self) -> str | None:
        if self.workflow is not None:
            return self.workflow
        running = current_step.get()
        return running.workflow if running is not None and running.execution == self.trace_id else None


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    value: T  # validated pydantic model instance
    usage: Usage  # summed over all exchanges including re-prompts
    cost_usd: float
    latency_ms: float
    audit_ref: str  # "s3://<bucket>/audit/<trace_id>/<step>/<attempt>[-<item>].json"
    response_sha256: str  # sha256 of the final raw response JSON
    model: str
    reprompts: int

    def summary(self) -> dict[str, Any]:
        """A small JSON-safe dict for Step Functions state (never the model's text)."""
        return {
            "audit_ref": self.audit_ref,
            "response_sha256": self.response_sha256,
            "model": self.model,
            "reprompts": self.reprompts,
            "cost_usd": round(self.cost_usd, 8),
            "latency_ms": round(self.latency_ms, 1),
            "usage": self.usage.model_dump(),
        }


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _jsonable(value: Any) -> Any:
    """Request params as plain JSON (the SDK accepts response models inside them, the audit does not)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _field_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"{loc}: {error['msg']} (type={error['type']})")
    return lines


class _Exchange:
    """One request/response pair, as recorded in the audit object."""

    def __init__(self, number: int, messages: list[MessageParam]) -> None:
        self.number = number
        self.record: dict[str, Any] = {
            "n": number,
            "started_at": _now(),
            "messages": _jsonable(messages),
        }
        self._t0 = time.perf_counter()

    def finish(self, **fields: Any) -> None:
        self.record["latency_ms"] = round((time.perf_counter() - self._t0) * 1000, 3)
        self.record.update(fields)


class LLMClient:
    """Structured LLM calls for the workflow steps. Thread-safe (holds no per-call state).

    With a ``ledger``, every call is charged to its run (``functions/shared/ledger.py``) and a run whose
    workflow has a cap in ``budgets`` that it already spent gets ``BudgetExceeded`` instead of a call.
    Every call also adds the Llm* EMF metrics (tokens, cost) under the step's dimensions.
    """

    def __init__(
        self,
        anthropic_client: anthropic.Anthropic,
        audit: AuditStore,
        settings: LLMSettings,
        prices: PriceTable | None = None,
        ledger: RunLedger | None = None,
        budgets: Mapping[str, float] | None = None,
    ) -> None:
        self._anthropic = anthropic_client
        self._audit = audit
        self._settings = settings
        self._ledger = ledger
        self._budgets: Mapping[str, float] = dict(budgets or {})
        self._prices = prices if prices is not None else DEFAULT_PRICES
        self._price = self._prices.price(settings.model)  # unknown model: fail at construction

    @property
    def settings(self) -> LLMSettings:
        return self._settings

    # -- the call --------------------------------------------------------------------------------------

    def structured(
        self,
        *,
        operation: Operation,
        playbook: Playbook,
        tool_name: str,
        prompt: str,
        output_model: type[T],
        context: LLMCallContext,
    ) -> LLMResult[T]:
        """Ask for ``output_model`` through the forced tool ``tool_name``; re-prompt on invalid output.

        The request's static prefix is the whole ``playbook`` (every task's tool, then its system
        prompt): the same bytes for every step of the workflow, so they share one cache entry.
        ``output_model`` is the task's model or a subclass that binds run-specific limits.

        Raises LLMFormatError, LLMRefusalError, LLMRateLimitError, LLMOverloadedError, LLMRequestError,
        BudgetExceeded before any request when the run already spent its workflow's cap, or
        TransientIntegrationError when the audit record or ledger entry of a successful call cannot be
        stored.
        """
        workflow = context.resolved_workflow()
        if self._ledger is not None:
            check_budget(self._ledger, run=context.trace_id, workflow=workflow, budgets=self._budgets)
        import anthropic  # already loaded by whoever built the SDK client: a dictionary lookup here

        task = playbook.task(tool_name)
        if not issubclass(output_model, task.output_model):
            raise TypeError(
                f"{tool_name}: {output_model.__name__} is not {task.output_model.__name__} or a subclass; "
                "the tool's schema (part of the cached prefix) comes from the playbook"
            )
        t0 = time.perf_counter()
        model = self._settings.model
        # The playbook is the cached prefix: tools, then the system prompt, where the breakpoint is.
        system_blocks: list[TextBlockParam] = [
            {"type": "text", "text": playbook.system, "cache_control": {"type": "ephemeral"}}
        ]
        tools = playbook.tools()
        # Every task's tool is offered (they are part of the shared prefix): exactly one call of the
        # forced one, so that a re-prompt answers the only tool_use the model made.
        tool_choice: ToolChoiceToolParam = {
            "type": "tool",
            "name": tool_name,
            "disable_parallel_tool_use": True,
        }
        messages: list[MessageParam] = [{"role": "user", "content": playbook.user_turn(tool_name, prompt)}]
        call = _CallRecord(
            key=audit_key(context.trace_id, context.step, context.attempt, context.item),
            context=context,
            workflow=workflow,
            header={
                "schema_version": 1,
                "trace_id": context.trace_id,
                "step": context.step,
                "attempt": context.attempt,
                "operation": operation,
                "model": model,
                "tool_name": tool_name,
                "output_model": output_model.__name__,
                "started_at": _now(),
                "request": {
                    "model": model,
                    "max_tokens": self._settings.max_tokens,
                    "system": system_blocks,
                    "tools": tools,
                    "tool_choice": tool_choice,
                },
                "max_reprompts": self._settings.max_reprompts,
            },
            below_cache_minimum_ok=playbook.below_cache_minimum_ok,
        )

        reprompts = 0
        while True:
            exchange = _Exchange(len(call.exchanges) + 1, messages)
            call.exchanges.append(exchange.record)
            try:
                raw = self._anthropic.messages.with_raw_response.create(
                    model=model,
                    max_tokens=self._settings.max_tokens,
                    system=system_blocks,
                    messages=messages,
                    tools=tools,
                    tool_choice=tool_choice,
                )
                body = raw.read()
                message: Message = raw.parse()
            except anthropic.AnthropicError as exc:
                error = self._map_error(exc, tool_name)
                exchange.finish(status=getattr(exc, "status_code", None), error=self._error_record(exc))
                self._fail(call, t0, error, exc)

            usage = _usage_of(message)
            call.usage = call.usage + usage
            response_sha256 = hashlib.sha256(body).hexdigest()
            exchange.finish(
                status=raw.status_code,
                request_id=raw.request_id,
                response=self._redact_json(body),
                response_sha256=response_sha256,
                usage=usage.model_dump(),
            )

            if message.stop_reason == "refusal":
                details = message.stop_details
                category = details.category if details is not None else None
                self._fail(
                    call,
                    t0,
                    LLMRefusalError(
                        f"the model refused to answer {tool_name} (stop_reason=refusal, category={category}, "
                        f"request_id={raw.request_id})"
                    ),
                    None,
                )

            outcome = self._check(message, output_model, tool_name)
            if not isinstance(outcome, _Feedback):
                latency_ms = (time.perf_counter() - t0) * 1000
                cost = self._price.cost(call.usage)
                call.header.update(
                    outcome="ok",
                    reprompts=reprompts,
                    response_sha256=response_sha256,
                    output=outcome.model_dump(mode="json"),
                )
                audit_ref = self._write_and_charge(call, t0, cost)
                return LLMResult(
                    value=outcome,
                    usage=call.usage,
                    cost_usd=cost,
                    latency_ms=latency_ms,
                    audit_ref=audit_ref,
                    response_sha256=response_sha256,
                    model=model,
                    reprompts=reprompts,
                )

            exchange.record["validation_errors"] = outcome.field_errors
            call.header["reprompts"] = reprompts
            if reprompts >= self._settings.max_reprompts:
                fields = "; ".join(outcome.field_errors[:_MAX_FIELD_ERRORS_IN_MESSAGE])
                error = LLMFormatError(
                    f"{tool_name}: the model's output failed validation after {reprompts} re-prompt(s): "
                    f"{fields}"
                )
                self._fail(call, t0, error, outcome.cause)
            reprompts += 1
            log.warning(
                "LLM output failed validation, re-prompting",
                extra={"tool_name": tool_name, "reprompt": reprompts, "errors": outcome.field_errors},
            )
            messages = [*messages, message.to_param(), outcome.user_turn]

    # -- helpers ----------------------------------------------------------------------------------------

    def _check(self, message: Message, output_model: type[T], tool_name: str) -> T | _Feedback:
        """The validated answer, or what to tell the model so that it can fix its answer."""
        tool_use = next(
            (block for block in message.content if block.type == "tool_use" and block.name == tool_name), None
        )
        if tool_use is None:
            problem = f"(response): no tool_use block for {tool_name} (stop_reason={message.stop_reason})"
            text = (
                f"You answered without calling the tool `{tool_name}`. Answer only by calling `{tool_name}` "
                "with input that matches its input schema."
            )
            return _Feedback(
                field_errors=[problem],
                user_turn={"role": "user", "content": [{"type": "text", "text": text}]},
                cause=ValueError(problem),
            )
        try:
            return output_model.model_validate(tool_use.input)
        except ValidationError as exc:
            field_errors = _field_errors(exc)
            listed = "\n".join(f"- {line}" for line in field_errors)
            text = (
                f"The input you gave to `{tool_name}` failed validation. Call `{tool_name}` again with "
                f"corrected input. Errors (field: problem):\n{listed}"
            )
            result: ToolResultBlockParam = {
                "type": "tool_result",
                "tool_use_id": tool_use.id,
                "is_error": True,
                "content": text,
            }
            return _Feedback(
                field_errors=field_errors, user_turn={"role": "user", "content": [result]}, cause=exc
            )

    def _map_error(self, exc: anthropic.AnthropicError, tool_name: str) -> StepwiseError:
        import anthropic

        if isinstance(exc, anthropic.APIStatusError):
            detail = self._redact(
                f"{tool_name}: Anthropic API returned HTTP {exc.status_code} "
                f"({exc.type or 'unknown error type'}{', ' + exc.error_code if exc.error_code else ''}), "
                f"request_id={exc.request_id}: {exc.api_message or ''}"
            ).rstrip(": ")
            if isinstance(exc, anthropic.RateLimitError):
                return LLMRateLimitError(detail)
            if isinstance(exc, anthropic.InternalServerError | anthropic.RequestTimeoutError):
                return LLMOverloadedError(detail)
            return LLMRequestError(detail)
        if isinstance(exc, anthropic.APITimeoutError):
            return LLMOverloadedError(f"{tool_name}: Anthropic API request timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return LLMOverloadedError(f"{tool_name}: could not connect to the Anthropic API")
        detail = f"{tool_name}: Anthropic client error {type(exc).__name__}: {exc}"
        return LLMRequestError(self._redact(detail))

    def _error_record(self, exc: anthropic.AnthropicError) -> dict[str, Any]:
        import anthropic

        record: dict[str, Any] = {"sdk_error": type(exc).__name__}
        if isinstance(exc, anthropic.APIStatusError):
            record.update(request_id=exc.request_id, type=exc.type, error_code=exc.error_code)
            record["body"] = self._redact_json(exc.response.content)
        return record

    def _fail(
        self, call: _CallRecord, t0: float, error: StepwiseError, cause: BaseException | None
    ) -> NoReturn:
        name = type(error).__name__
        call.header.update(outcome=name, error={"type": name, "message": str(error)})
        cost = self._price.cost(call.usage)
        try:
            self._write(call, t0, cost)
        except Exception as audit_exc:  # the typed LLM error matters more to the workflow
            log.exception("could not write the LLM audit record %s", call.key)
            error.add_note(f"audit record {call.key} could not be written: {type(audit_exc).__name__}")
        if call.usage != Usage.zero():  # tokens of a failed call (e.g. exhausted re-prompts) are billed too
            try:
                self._charge(call, t0, cost, outcome=name)
            except Exception as ledger_exc:
                log.exception("could not charge the LLM call %s to the run ledger", call.key)
                error.add_note(
                    f"ledger entry for {call.key} could not be written: {type(ledger_exc).__name__}"
                )
        raise error from cause

    def _write_and_charge(self, call: _CallRecord, t0: float, cost: float) -> str:
        """Audit a successful call, and charge it even if its audit record fails: it was paid for."""
        try:
            return self._write(call, t0, cost)
        finally:
            self._charge(call, t0, cost, outcome="ok")

    def _charge(self, call: _CallRecord, t0: float, cost: float, outcome: str) -> None:
        """Metrics for the call, then its ledger entry (if the client has a ledger)."""
        usage = call.usage
        if not call.below_cache_minimum_ok:  # else a documented choice (Playbook), not news
            _warn_if_uncached(self._settings.model, call.header["tool_name"], usage)
        metrics.add_metric(name="LlmInputTokens", unit=MetricUnit.Count, value=usage.input_tokens)
        metrics.add_metric(name="LlmOutputTokens", unit=MetricUnit.Count, value=usage.output_tokens)
        metrics.add_metric(
            name="LlmCacheReadTokens", unit=MetricUnit.Count, value=usage.cache_read_input_tokens
        )
        metrics.add_metric(
            name="LlmCacheWriteTokens", unit=MetricUnit.Count, value=usage.cache_creation_input_tokens
        )
        metrics.add_metric(name="LlmCostUsd", unit=MetricUnit.NoUnit, value=cost)
        if self._ledger is None:
            return
        entry = LedgerEntry(
            run=call.context.trace_id,
            workflow=call.workflow,
            step=call.context.step,
            attempt=call.context.attempt,
            model=self._settings.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens,
            usd=cost,
            latency_ms=round((time.perf_counter() - t0) * 1000, 1),
            outcome=outcome,
        )
        try:
            self._ledger.record(entry)
        except (TransientIntegrationError, PermanentIntegrationError):
            raise
        except Exception as exc:
            # Like the audit record: a call the ledger does not know about is a call no budget caps.
            # A missing grant or table is permanent: retrying would pay for the call again and fail again.
            raise map_client_error(exc, operation=f"run ledger {call.key}") from exc

    def _write(self, call: _CallRecord, t0: float, cost: float) -> str:
        latency_ms = (time.perf_counter() - t0) * 1000
        record = {
            **call.header,
            "finished_at": _now(),
            "latency_ms": round(latency_ms, 3),
            "usage": call.usage.model_dump(),
            "cost_usd": cost,
            "exchanges": call.exchanges,
        }
        # Belt and braces: the key is never put in a request, but a prompt or an error body could echo it.
        redacted: dict[str, Any] = self._redact_json(json.dumps(record, default=str).encode("utf-8"))
        try:
            return self._audit.put(call.key, redacted)
        except Exception as exc:
            message = f"could not write the LLM audit record {call.key}: {type(exc).__name__}: {exc}"
            raise TransientIntegrationError(message) from exc

    def _redact(self, text: str) -> str:
        key = self._anthropic.api_key
        if key and len(key) >= _MIN_KEY_LENGTH_TO_REDACT:
            text = text.replace(key, _REDACTED)
        return _KEY_PATTERN.sub(_REDACTED, text)

    def _redact_json(self, body: bytes) -> Any:
        text = self._redact(body.decode("utf-8", errors="replace"))
        try:
            return json.loads(text)
        except ValueError:
            return text


@dataclass
class _Feedback:
    field_errors: list[str]
    user_turn: MessageParam
    cause: Exception


class _CallRecord:
    """Everything one ``structured()`` call writes to its audit object."""

    def __init__(
        self,
        key: str,
        header: dict[str, Any],
        context: LLMCallContext,
        workflow: str | None,
        below_cache_minimum_ok: str = "",
    ) -> None:
        self.key = key
        self.header = header
        self.context = context
        self.workflow = workflow
        self.exchanges: list[dict[str, Any]] = []
        self.usage = Usage.zero()
        self.below_cache_minimum_ok = below_cache_minimum_ok  # the playbook's declared reason, if any


def _warn_if_uncached(model: str, tool_name: str, usage: Usage) -> None:
    """Say once per process and tool when the API neither wrote nor read the playbook's prefix.

    The prefix is always sent with ``cache_control``, so that only happens when it is under the
    model's caching minimum, which the docs and users' measurements disagree on for some models
    (``functions/shared/llm/offline.py``): the first call of a cold Lambda says so in its logs, next
    to the ``LlmCacheReadTokens`` / ``LlmCacheWriteTokens`` metrics staying at zero.
    """
    if usage.cache_creation_input_tokens or usage.cache_read_input_tokens:
        return
    key = (model, tool_name)
    if key in _UNCACHED_WARNED:
        return
    _UNCACHED_WARNED.add(key)
    log.warning(
        "the prompt prefix was not cached (under the model's caching minimum?): calls pay full input price",
        extra={"model": model, "tool_name": tool_name, "input_tokens": usage.input_tokens},
    )


def _usage_of(message: Message) -> Usage:
    usage = message.usage
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_input_tokens=usage.cache_read_input_tokens or 0,
    )
