"""The step handler kit: typed input errors, registered error names, no token in logs."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from functions.shared.config import settings
from functions.shared.errors import BusinessRuleError, InvalidInputError
from functions.shared.observability import logger
from functions.shared.ports.crm import StatusConflict
from functions.shared.step_handler import StepContext, as_registered_error, step_handler
from local.dispatch import LocalLambdaContext


class Payload(BaseModel):
    lead_id: str
    score: int


def _context() -> Any:
    return LocalLambdaContext(
        function_name="stepwise-test-step",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stepwise-test-step",
        timeout_seconds=3,
    )


def _event(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"payload": payload, "execution": "run-1", "state": "Score", "attempt": 0, **extra}


def test_bad_payload_is_an_invalid_input_error_naming_each_field() -> None:
    @step_handler(Payload)
    def handler(payload: Payload, ctx: StepContext) -> Payload:
        return payload

    with pytest.raises(InvalidInputError) as raised:
        handler(_event({"score": "high"}), _context())
    message = str(raised.value)
    assert "lead_id: Field required" in message
    assert "score: Input should be a valid integer" in message


def test_a_typed_subclass_reaches_step_functions_under_its_registered_name() -> None:
    @step_handler(Payload)
    def handler(payload: Payload, ctx: StepContext) -> Payload:
        raise StatusConflict("c1", expected="new", actual="client")

    with pytest.raises(BusinessRuleError) as raised:
        handler(_event({"lead_id": "L-1", "score": 1}), _context())
    assert type(raised.value) is BusinessRuleError
    assert "expected status 'new', found 'client'" in str(raised.value)


def test_registered_errors_are_passed_through_unchanged() -> None:
    error = BusinessRuleError("conflict of interest")
    assert as_registered_error(error) is error


def test_the_task_token_is_never_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "AQCEAAAAKgAAAAMAAAAA-secret-task-token"
    monkeypatch.setenv("STEPWISE_LOG_SAMPLE_RATE", "1")  # every run logs everything
    settings.cache_clear()

    @step_handler(Payload)
    def handler(payload: Payload, ctx: StepContext) -> Payload:
        assert ctx.task_token is not None
        assert ctx.task_token.get_secret_value() == token
        return payload

    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    logger.setLevel("DEBUG")
    try:
        result = handler(_event({"lead_id": "L-1", "score": 3}, taskToken=token), _context())
    finally:
        logger.handlers.remove(capture)
        logger.setLevel("WARNING")
        settings.cache_clear()
    assert result == {"lead_id": "L-1", "score": 3}
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [r["message"] for r in records] == ["step succeeded"]
    assert records[0]["trace_id"] == "run-1"
    assert records[0]["correlation_id"] == "run-1"
    assert token not in buffer.getvalue()
