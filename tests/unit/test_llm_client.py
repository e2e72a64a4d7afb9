"""LLMClient against the real anthropic SDK, with the offline model as its HTTP transport."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import anthropic
import boto3
import httpx2
import pytest
from moto import mock_aws
from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.shared import aws, config
from functions.shared.errors import (
    LLMFormatError,
    LLMOverloadedError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMRequestError,
    TransientIntegrationError,
)
from functions.shared.ledger import get_run_ledger
from functions.shared.llm import factory
from functions.shared.llm.audit import InMemoryAuditStore, S3AuditStore, audit_key
from functions.shared.llm.client import LLMCallContext, LLMClient, LLMResult, Operation
from functions.shared.llm.offline import (
    BadRequest,
    Malformed,
    OfflineModel,
    Overloaded,
    RateLimited,
    Refusal,
    Reply,
    ServerError,
    offline_model,
)
from functions.shared.llm.playbook import LLMTask, Playbook
from functions.shared.llm.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, UnknownModelError, Usage
from functions.shared.llm.settings import LLMSettings

FIXTURES = Path(__file__).parent / "fixtures" / "llm"
API_KEY = "sk-ant-api03-TESTKEY-abcdefghijklmnopqrstuvwxyz0123456789"
TOOL = "score_lead"
SYSTEM = "You assess sales leads. Answer only with the score_lead tool."
LONG_SYSTEM = "You assess sales leads for a logistics software vendor. Be factual and brief. " * 120
CONTEXT = LLMCallContext(trace_id="run-0001", step="research_lead", attempt=0)
LLM_ENV = (
    "ANTHROPIC_API_KEY",
    "STEPWISE_ANTHROPIC_SECRET_ARN",
    "STEPWISE_LLM_FORCE_OFFLINE",
    "STEPWISE_LLM_MODEL",
)


class LeadScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fit: Literal["good", "poor"]
    fit_score: int = Field(ge=0, le=100)
    summary: str = Field(min_length=3)
    tags: list[Any] = Field(default_factory=list)


VALID = {"fit": "good", "fit_score": 70, "summary": "A fine lead", "tags": []}


def lead_prompt(**lead: Any) -> str:
    return f"Assess the lead.\n<input>{json.dumps({'lead': lead})}</input>"


@pytest.fixture(autouse=True)
def _hermetic_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own key or STEPWISE_LLM_* settings must not change what these tests see.
    for name in list(os.environ):
        if name.startswith("STEPWISE_LLM_") or name in LLM_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def model() -> OfflineModel:
    return OfflineModel(FIXTURES)


@pytest.fixture
def audit() -> InMemoryAuditStore:
    return InMemoryAuditStore(bucket="audit-bucket")


ClientFactory = Callable[..., LLMClient]


@pytest.fixture
def make_client(model: OfflineModel, audit: InMemoryAuditStore) -> Iterator[ClientFactory]:
    opened: list[httpx2.Client] = []

    def make(**overrides: Any) -> LLMClient:
        prices = overrides.pop("prices", None)
        settings = LLMSettings(anthropic_api_key=None, anthropic_secret_arn=None, **overrides)
        http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
        opened.append(http)
        sdk = anthropic.Anthropic(api_key=API_KEY, max_retries=settings.sdk_max_retries, http_client=http)
        return LLMClient(sdk, audit, settings, prices)

    yield make
    for http in opened:
        http.close()


def playbook(system: str = SYSTEM, tool: str = TOOL) -> Playbook:
    """A one-task playbook: the lead scorer's prefix is its tool and ``system`` under the preamble."""
    return Playbook(
        workflow="lead scoring",
        tasks=(LLMTask(tool, "Score how well a lead fits the offer", LeadScore, system),),
    )


def score(client: LLMClient, prompt: str | None = None, system: str = SYSTEM) -> LLMResult[LeadScore]:
    return client.structured(
        operation="classify",
        playbook=playbook(system),
        tool_name=TOOL,
        prompt=prompt if prompt is not None else lead_prompt(name="Acme", industry="retail"),
        output_model=LeadScore,
        context=CONTEXT,
    )


def the_audit(audit: InMemoryAuditStore) -> dict[str, Any]:
    return audit.get(audit_key(CONTEXT.trace_id, CONTEXT.step, CONTEXT.attempt))


# -- success path -----------------------------------------------------------------------------------


def test_a_valid_answer_is_returned_as_the_validated_model_with_usage_cost_and_audit_ref(
    make_client: ClientFactory, audit: InMemoryAuditStore
) -> None:
    # Given a client on the offline model with a fixture for the tool
    client = make_client()

    # When a lead that matches the logistics case is classified
    result = score(client, lead_prompt(name="Fastfreight", industry="logistics", size=500))

    # Then the value is the validated model built from the fixture with the input substituted
    assert isinstance(result.value, LeadScore)
    assert result.value.fit_score == 88
    assert result.value.summary == "Fastfreight runs a logistics firm of 500 people"
    assert result.reprompts == 0
    assert result.model == "claude-sonnet-4-6"
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0
    assert result.cost_usd == pytest.approx(DEFAULT_PRICES.cost("claude-sonnet-4-6", result.usage))
    assert result.latency_ms > 0
    assert result.audit_ref == "s3://audit-bucket/audit/run-0001/research_lead/0.json"
    # and the hash is that of the raw response recorded in the audit object
    record = the_audit(audit)
    assert record["response_sha256"] == result.response_sha256
    assert record["exchanges"][-1]["response_sha256"] == result.response_sha256
    assert len(result.response_sha256) == 64


def test_the_request_forces_the_tool_caches_the_system_prompt_and_sends_no_temperature(
    make_client: ClientFactory, model: OfflineModel
) -> None:
    # Given a client
    client = make_client(max_tokens=333)

    # When it makes a call
    score(client)

    # Then the request forces the tool whose schema is the output model's, and marks the system prompt
    (body,) = model.requests
    assert body["tools"] == [
        {
            "name": TOOL,
            "description": "Score how well a lead fits the offer",
            "input_schema": LeadScore.model_json_schema(),
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL, "disable_parallel_tool_use": True}
    assert body["system"] == [
        {"type": "text", "text": playbook().system, "cache_control": {"type": "ephemeral"}}
    ]
    assert SYSTEM in playbook().system
    # and the user turn names the task whose section of the system prompt applies
    assert body["messages"][0]["content"].startswith(f"Task: {TOOL}\n\n")
    assert body["max_tokens"] == 333
    assert "temperature" not in body


def test_the_summary_is_small_json_safe_and_carries_no_model_text(make_client: ClientFactory) -> None:
    # Given a successful call
    result = score(make_client())

    # When it is summarised for Step Functions state
    summary = result.summary()

    # Then it round-trips through JSON and holds the reference, hash and accounting only
    assert json.loads(json.dumps(summary)) == summary
    assert set(summary) >= {"audit_ref", "response_sha256", "model", "reprompts", "cost_usd", "usage"}
    assert summary["usage"]["input_tokens"] == result.usage.input_tokens
    assert "Acme" not in json.dumps(summary)


@pytest.mark.parametrize("operation", ["classify", "extract", "choose_branch", "draft"])
def test_each_operation_is_recorded_in_the_audit(
    make_client: ClientFactory, audit: InMemoryAuditStore, operation: Operation
) -> None:
    # Given a client
    client = make_client()

    # When a structured call is made for that operation
    result = client.structured(
        operation=operation,
        playbook=playbook(),
        tool_name=TOOL,
        prompt=lead_prompt(name="Acme"),
        output_model=LeadScore,
        context=CONTEXT,
    )

    # Then the audit record names that operation
    assert isinstance(result.value, LeadScore)
    assert the_audit(audit)["operation"] == operation


# -- re-prompts ---------------------------------------------------------------------------------------


def test_an_invalid_answer_is_reprompted_with_the_field_errors_and_then_accepted(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given the model first answers with a fit_score out of range
    model.script(TOOL, Malformed({**VALID, "fit_score": 250}))
    client = make_client()

    # When the client is called
    result = score(client)

    # Then it re-prompted once and accepted the fixture's valid answer
    assert result.reprompts == 1
    assert result.value.fit == "poor"
    # and the re-prompt carried the failed call back with an error tool_result naming the field
    first, second = model.requests
    assert second["messages"][:1] == first["messages"]
    assistant_turn, feedback_turn = second["messages"][1:]
    assert assistant_turn["role"] == "assistant"
    assert assistant_turn["content"][0]["type"] == "tool_use"
    (tool_result,) = feedback_turn["content"]
    assert tool_result["type"] == "tool_result"
    assert tool_result["is_error"] is True
    assert tool_result["tool_use_id"] == assistant_turn["content"][0]["id"]
    assert "fit_score" in tool_result["content"]
    # and the audit record holds both raw responses and both request conversations
    record = the_audit(audit)
    assert len(record["exchanges"]) == 2
    assert record["exchanges"][0]["response"]["content"][0]["input"]["fit_score"] == 250
    assert record["exchanges"][0]["validation_errors"][0].startswith("fit_score:")
    assert len(record["exchanges"][1]["messages"]) == 3
    assert record["reprompts"] == 1
    assert record["outcome"] == "ok"


def test_usage_and_cost_are_summed_over_every_exchange(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given one invalid answer before the valid one
    model.script(TOOL, Malformed({"fit": "maybe"}))

    # When the client is called
    result = score(make_client())

    # Then the reported usage is the sum of both responses' usage
    responses = [exchange["response"]["usage"] for exchange in the_audit(audit)["exchanges"]]
    assert result.usage.input_tokens == sum(usage["input_tokens"] for usage in responses)
    assert result.usage.output_tokens == sum(usage["output_tokens"] for usage in responses)
    assert the_audit(audit)["usage"] == result.usage.model_dump()


def test_an_answer_without_tool_use_is_reprompted(make_client: ClientFactory, model: OfflineModel) -> None:
    # Given the model first answers in prose instead of calling the tool
    model.script(TOOL, Malformed("It looks like a good lead to me."))

    # When the client is called
    result = score(make_client())

    # Then it asked again (a text turn, as there is no tool_use id to answer) and got a valid answer
    assert result.reprompts == 1
    feedback = model.requests[1]["messages"][-1]
    assert feedback["role"] == "user"
    assert TOOL in feedback["content"][0]["text"]


def test_output_still_invalid_after_max_reprompts_raises_format_error_after_auditing(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given a model that answers invalid output three times and a limit of 2 re-prompts
    model.script(TOOL, *[Malformed({**VALID, "fit": "excellent"})] * 3)
    client = make_client(max_reprompts=2)

    # When the client is called
    with pytest.raises(LLMFormatError) as raised:
        score(client)

    # Then it made 1 + 2 requests, and the error names the tool and the field, chained to the cause
    assert len(model.requests) == 3
    assert TOOL in str(raised.value)
    assert "fit:" in str(raised.value)
    assert raised.value.__cause__ is not None
    # and the audit record was written with all three responses
    record = the_audit(audit)
    assert record["outcome"] == "LLMFormatError"
    assert len(record["exchanges"]) == 3
    assert all("response" in exchange for exchange in record["exchanges"])


def test_with_zero_reprompts_the_first_invalid_answer_fails(
    make_client: ClientFactory, model: OfflineModel
) -> None:
    # Given re-prompts are disabled
    model.script(TOOL, Malformed({"fit": "good"}))

    # When the answer is invalid
    with pytest.raises(LLMFormatError):
        score(make_client(max_reprompts=0))

    # Then no second request was made
    assert len(model.requests) == 1


# -- API errors -------------------------------------------------------------------------------------


def test_a_429_raises_rate_limit_error_without_an_sdk_retry(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given the API answers 429 and the SDK does not retry (Step Functions does)
    model.script(TOOL, RateLimited(retry_after_s=30))

    # When the client is called
    with pytest.raises(LLMRateLimitError) as raised:
        score(make_client(sdk_max_retries=0))

    # Then exactly one request was made and the error names status and request id, chained to the SDK's
    assert len(model.requests) == 1
    assert "429" in str(raised.value)
    assert "req_offline_1" in str(raised.value)
    assert isinstance(raised.value.__cause__, anthropic.RateLimitError)
    # and the failure was audited
    record = the_audit(audit)
    assert record["outcome"] == "LLMRateLimitError"
    assert record["exchanges"][0]["status"] == 429


@pytest.mark.parametrize("fault", [Overloaded(), ServerError(status=500), ServerError(status=503)])
def test_a_529_or_5xx_raises_overloaded_error(
    make_client: ClientFactory, model: OfflineModel, fault: Overloaded | ServerError
) -> None:
    # Given the API is overloaded or failing
    model.script(TOOL, fault)

    # When the client is called
    with pytest.raises(LLMOverloadedError) as raised:
        score(make_client())

    # Then the error carries the status code
    expected = "529" if isinstance(fault, Overloaded) else str(fault.status)
    assert expected in str(raised.value)


def test_with_sdk_retries_on_a_529_then_success_the_sdk_retries_honouring_retry_after(
    make_client: ClientFactory, model: OfflineModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the SDK may retry twice and the API answers 529 once with a 1 ms retry-after
    # (anthropic 2.10 ignores a retry-after of 0 and falls back to its 0.5-8 s backoff)
    model.script(TOOL, Overloaded(retry_after_s=0.001))
    sleeps: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr("anthropic._base_client.time.sleep", recording_sleep)

    # When the client is called
    result = score(make_client(sdk_max_retries=2))

    # Then the SDK's own retry made a second request, after sleeping only the 1 ms asked for
    assert len(model.requests) == 2
    assert sleeps == [pytest.approx(0.001)]
    assert result.value.fit == "poor"


def test_a_400_raises_request_error_with_status_and_request_id(make_client: ClientFactory) -> None:
    # Given a tool the offline model has no fixture for (it answers 400 invalid_request_error)
    client = make_client()

    # When the client is called
    with pytest.raises(LLMRequestError) as raised:
        client.structured(
            operation="extract",
            playbook=playbook(tool="no_such_tool"),
            tool_name="no_such_tool",
            prompt="x",
            output_model=LeadScore,
            context=CONTEXT,
        )

    # Then the message has the status, the error type, the request id and the API's explanation
    message = str(raised.value)
    assert "400" in message
    assert "invalid_request_error" in message
    assert "req_offline_1" in message
    assert "no fixture for tool no_such_tool" in message


def test_a_refusal_raises_refusal_error_after_auditing(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given the model refuses
    model.script(TOOL, Refusal())

    # When the client is called
    with pytest.raises(LLMRefusalError) as raised:
        score(make_client())

    # Then it is not re-prompted, and the refusal is audited
    assert len(model.requests) == 1
    assert "refus" in str(raised.value)
    record = the_audit(audit)
    assert record["outcome"] == "LLMRefusalError"
    assert record["exchanges"][0]["response"]["stop_reason"] == "refusal"


def _raising_client(error: Exception, audit: InMemoryAuditStore) -> tuple[LLMClient, httpx2.Client]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise error

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    sdk = anthropic.Anthropic(api_key=API_KEY, max_retries=0, http_client=http)
    return LLMClient(sdk, audit, LLMSettings(anthropic_api_key=None)), http


@pytest.mark.parametrize(
    "transport_error", [httpx2.ConnectError("connection refused"), httpx2.ReadTimeout("read timed out")]
)
def test_connection_failures_and_timeouts_raise_overloaded_error(
    audit: InMemoryAuditStore, transport_error: Exception
) -> None:
    # Given a transport that cannot reach the API or times out
    client, http = _raising_client(transport_error, audit)

    # When the client is called
    with pytest.raises(LLMOverloadedError) as raised:
        score(client)
    http.close()

    # Then the SDK's connection/timeout error is mapped and chained, and the failure audited
    assert isinstance(raised.value.__cause__, anthropic.APIConnectionError)
    assert the_audit(audit)["outcome"] == "LLMOverloadedError"


# -- prompt caching and cost -------------------------------------------------------------------------


def test_a_second_call_with_the_same_prefix_reads_the_cache_and_costs_less(
    make_client: ClientFactory,
) -> None:
    # Given a system prompt longer than the cache minimum
    client = make_client()

    # When two calls share the same system prompt and tool
    first = score(client, system=LONG_SYSTEM)
    second = score(client, system=LONG_SYSTEM)

    # Then the first writes the cache, the second reads it, and the second is cheaper
    assert first.usage.cache_creation_input_tokens >= 2048
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.cost_usd < first.cost_usd


def test_a_prefix_below_the_minimum_is_not_cached(make_client: ClientFactory) -> None:
    # Given a short system prompt
    client = make_client()

    # When it is used twice
    results = [score(client, system=SYSTEM) for _ in range(2)]

    # Then nothing is cached and both cost the same
    for result in results:
        assert result.usage.cache_creation_input_tokens == 0
        assert result.usage.cache_read_input_tokens == 0
    assert results[0].cost_usd == pytest.approx(results[1].cost_usd)


def test_cost_of_a_known_usage_matches_the_hand_computation() -> None:
    # Given a usage with every kind of token on Sonnet ($3 in, $15 out, $3.75 cache write, $0.30 read)
    usage = Usage(
        input_tokens=1_000,
        output_tokens=200,
        cache_creation_input_tokens=2_000,
        cache_read_input_tokens=10_000,
    )

    # When it is priced
    cost = DEFAULT_PRICES.cost("claude-sonnet-4-6", usage)

    # Then it equals 1000*3 + 200*15 + 2000*3.75 + 10000*0.30, per million tokens
    assert cost == pytest.approx((3_000 + 3_000 + 7_500 + 3_000) / 1_000_000)
    assert DEFAULT_PRICES.cost("claude-haiku-4-5", Usage(input_tokens=1_000_000, output_tokens=0)) == 1.0
    assert DEFAULT_PRICES.cost("claude-opus-4-5", Usage(input_tokens=0, output_tokens=1_000_000)) == 25.0


def test_a_dated_model_id_is_priced_like_its_alias() -> None:
    # Given a dated snapshot id
    # When it is looked up
    # Then it falls back to the alias's price
    assert DEFAULT_PRICES.price("claude-sonnet-4-5-20250929") == DEFAULT_PRICES.price("claude-sonnet-4-5")


def test_an_unknown_model_is_rejected_when_the_client_is_built(audit: InMemoryAuditStore) -> None:
    # Given settings naming a model without a price
    settings = LLMSettings(model="claude-imaginary-9", anthropic_api_key=None)

    # When the client is built
    # Then it fails at once with a clear error, not in the middle of a run
    with pytest.raises(UnknownModelError, match="claude-imaginary-9"):
        LLMClient(anthropic.Anthropic(api_key=API_KEY), audit, settings)


def test_a_custom_price_table_is_used_for_cost(make_client: ClientFactory) -> None:
    # Given a price table where Sonnet output is free and input costs $1,000,000 per million tokens
    prices = PriceTable(
        prices={"claude-sonnet-4-6": ModelPrice(input=1e6, output=0, cache_write=0, cache_read=0)}
    )

    # When a call is made
    result = score(make_client(prices=prices))

    # Then the cost is exactly one dollar per input token
    assert result.cost_usd == pytest.approx(result.usage.input_tokens)


# -- audit ------------------------------------------------------------------------------------------


def test_the_audit_key_follows_trace_step_attempt_and_stays_one_path_segment_each() -> None:
    # Given / When keys are built
    # Then they follow the contract, and a slash in an id cannot create extra path segments
    assert audit_key("run-0001", "draft_email", 2) == "audit/run-0001/draft_email/2.json"
    assert audit_key("run/../x", "step", 0) == "audit/run_.._x/step/0.json"
    with pytest.raises(ValueError, match="invalid audit key"):
        audit_key("..", "step", 0)
    # and calls one attempt makes per item each get their own record
    assert audit_key("run-0001", "score", 0, "APT/7") == "audit/run-0001/score/0-APT_7.json"
    with pytest.raises(ValueError, match="item"):
        audit_key("run-0001", "score", 0, "")


def test_the_audit_record_holds_the_request_and_accounting(
    make_client: ClientFactory, audit: InMemoryAuditStore
) -> None:
    # Given a call with a retry count of 3
    client = make_client()
    context = LLMCallContext(trace_id="run-0002", step="assess", attempt=3)

    # When it succeeds
    result = client.structured(
        operation="choose_branch",
        playbook=playbook(),
        tool_name=TOOL,
        prompt=lead_prompt(name="Acme"),
        output_model=LeadScore,
        context=context,
    )

    # Then one object sits at audit/<trace>/<step>/<attempt>.json with the request and the accounting
    assert audit.keys() == ["audit/run-0002/assess/3.json"]
    record = audit.get(result.audit_ref)
    assert (record["trace_id"], record["step"], record["attempt"]) == ("run-0002", "assess", 3)
    assert (record["operation"], record["model"], record["tool_name"]) == (
        "choose_branch",
        "claude-sonnet-4-6",
        TOOL,
    )
    assert record["request"]["system"][0]["text"] == playbook().system
    assert record["request"]["tools"][0]["input_schema"] == LeadScore.model_json_schema()
    assert record["exchanges"][0]["messages"] == [
        {"role": "user", "content": f"Task: {TOOL}\n\n{lead_prompt(name='Acme')}"}
    ]
    assert record["exchanges"][0]["response"]["type"] == "message"
    assert record["cost_usd"] == pytest.approx(result.cost_usd)
    assert record["latency_ms"] > 0
    assert record["started_at"] <= record["finished_at"]


def test_the_api_key_never_reaches_the_audit_or_error_messages(
    make_client: ClientFactory, model: OfflineModel, audit: InMemoryAuditStore
) -> None:
    # Given an API error whose message echoes the key (as a misbehaving proxy might)
    model.script(TOOL, BadRequest(f"invalid x-api-key {API_KEY}"))
    client = make_client()

    # When the call fails
    with pytest.raises(LLMRequestError) as raised:
        score(client)

    # Then neither the error message nor the stored audit bytes contain the key
    assert API_KEY not in str(raised.value)
    assert "[REDACTED]" in str(raised.value)
    raw = audit.raw(audit_key(CONTEXT.trace_id, CONTEXT.step, CONTEXT.attempt)).decode()
    assert API_KEY not in raw
    assert "invalid x-api-key" in raw

    # And when a successful call's prompt carries the key by mistake, the audit still does not
    score(client, prompt=f"Assess the lead. Debug: {API_KEY}")
    raw = audit.raw(audit_key(CONTEXT.trace_id, CONTEXT.step, CONTEXT.attempt)).decode()
    assert API_KEY not in raw
    assert "Debug: [REDACTED]" in raw


def test_an_audit_failure_after_a_success_is_a_transient_error() -> None:
    # Given an audit store that cannot write
    class BrokenStore(InMemoryAuditStore):
        def put(self, key: str, record: Mapping[str, Any]) -> str:
            raise OSError("S3 unavailable")

    model = OfflineModel(FIXTURES)
    http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
    sdk = anthropic.Anthropic(api_key=API_KEY, max_retries=0, http_client=http)
    client = LLMClient(sdk, BrokenStore(), LLMSettings(anthropic_api_key=None))

    # When a call succeeds but its audit record cannot be stored
    # Then the step fails with a retryable error rather than continuing unaudited
    with pytest.raises(TransientIntegrationError, match="audit"):
        score(client)

    # And a failing call still raises its own typed error, with a note about the audit
    model.script(TOOL, RateLimited())
    with pytest.raises(LLMRateLimitError) as raised:
        score(client)
    assert any("audit record" in note for note in raised.value.__notes__)
    http.close()


# -- S3 audit store and factory ----------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    with mock_aws():
        yield
    aws.reset_clients()


@pytest.mark.usefixtures("aws_env")
def test_the_s3_audit_store_writes_one_json_object_per_call(model: OfflineModel) -> None:
    # Given an S3 bucket and a client whose audit store is S3
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="stepwise-audit-test")
    http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
    store = S3AuditStore("stepwise-audit-test")
    sdk = anthropic.Anthropic(api_key=API_KEY, max_retries=0, http_client=http)
    client = LLMClient(sdk, store, LLMSettings(anthropic_api_key=None))

    # When a call succeeds
    result = score(client)
    http.close()

    # Then the object is at the contract key, is JSON, and holds the raw response
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket="stepwise-audit-test")["Contents"]]
    assert keys == ["audit/run-0001/research_lead/0.json"]
    obj = s3.get_object(Bucket="stepwise-audit-test", Key=keys[0])
    assert obj["ContentType"] == "application/json"
    record = json.loads(obj["Body"].read())
    assert record["response_sha256"] == result.response_sha256
    assert store.get(result.audit_ref) == record


@pytest.fixture
def clean_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    factory.reset_llm_client()
    config.settings.cache_clear()
    offline_model().reset()
    yield
    factory.reset_llm_client()
    config.settings.cache_clear()
    offline_model().reset()


@pytest.mark.usefixtures("aws_env", "clean_factory")
def test_without_an_api_key_the_factory_uses_the_offline_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no ANTHROPIC_API_KEY, an audit bucket, a run ledger, and a scripted answer on the offline model
    monkeypatch.setenv("STEPWISE_AUDIT_BUCKET", "factory-audit")
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="factory-audit")
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=config.settings().run_ledger_table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    offline_model().script(TOOL, Reply(VALID))
    before = len(offline_model().requests)

    # When the factory's client is used
    client = factory.get_llm_client()
    result = score(client)

    # Then the call went to the offline model, and the audit to the configured bucket
    assert factory.get_llm_client() is client
    assert len(offline_model().requests) == before + 1
    assert result.value.fit_score == 70
    assert result.audit_ref.startswith("s3://factory-audit/audit/")
    assert get_run_ledger().total_usd(CONTEXT.trace_id) == pytest.approx(result.cost_usd)


@pytest.mark.usefixtures("clean_factory")
def test_with_an_api_key_the_factory_builds_the_real_client_with_configured_retries_and_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a key in the environment and custom retry/timeout settings
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("STEPWISE_LLM_SDK_MAX_RETRIES", "1")
    monkeypatch.setenv("STEPWISE_LLM_TIMEOUT_SECONDS", "42")

    # When the SDK client is built (no request is sent)
    sdk, offline = factory.build_anthropic(LLMSettings())

    # Then it is the real transport with the key and the settings
    assert offline is False
    assert sdk.api_key == API_KEY
    assert sdk.max_retries == 1
    assert sdk.timeout == 42


@pytest.mark.usefixtures("clean_factory")
def test_force_offline_ignores_a_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a key and the force-offline switch
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("STEPWISE_LLM_FORCE_OFFLINE", "true")

    # When the SDK client is built
    sdk, offline = factory.build_anthropic(LLMSettings())

    # Then it is offline and does not carry the real key
    assert offline is True
    assert sdk.api_key == factory.OFFLINE_API_KEY


@pytest.mark.usefixtures("aws_env", "clean_factory")
@pytest.mark.parametrize("secret", [API_KEY, json.dumps({"api_key": API_KEY})])
def test_in_the_cloud_the_key_is_read_from_secrets_manager_once(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    # Given the key stored in Secrets Manager (plain or as JSON) and only its ARN in the environment
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="stepwise/anthropic", SecretString=secret)["ARN"]
    monkeypatch.setenv("STEPWISE_ANTHROPIC_SECRET_ARN", arn)

    # When the key is resolved twice, the secret being deleted in between
    first = factory.resolve_api_key(LLMSettings())
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    second = factory.resolve_api_key(LLMSettings())

    # Then both are the stored key: the second came from the process cache
    assert first == second == API_KEY


@pytest.mark.usefixtures("aws_env", "clean_factory")
def test_an_empty_secret_is_an_error_not_a_silent_fallback_to_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a secret that holds no key
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="stepwise/empty", SecretString=json.dumps({"other": "x"}))["ARN"]
    monkeypatch.setenv("STEPWISE_ANTHROPIC_SECRET_ARN", arn)

    # When the client is built
    # Then it fails loudly
    with pytest.raises(factory.LLMConfigurationError, match="holds no Anthropic API key"):
        factory.get_llm_client()


@pytest.mark.usefixtures("aws_env", "clean_factory")
def test_the_placeholder_the_stack_deploys_is_no_key_and_says_how_to_store_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the Anthropic secret as CloudFormation creates it: the placeholder plus a random field
    deployed = {**json.loads(factory.SECRET_PLACEHOLDER), "placeholder": "q8Xr2kVb9ZtLw4Hn"}
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="stepwise/anthropic", SecretString=json.dumps(deployed))["ARN"]
    monkeypatch.setenv("STEPWISE_ANTHROPIC_SECRET_ARN", arn)

    # When the client is built
    # Then it refuses with "no key" and the command that stores one (never the random field as a key)
    with pytest.raises(factory.LLMConfigurationError, match="holds no Anthropic API key") as raised:
        factory.get_llm_client()
    assert f"aws secretsmanager put-secret-value --secret-id {arn}" in str(raised.value)
    assert "STEPWISE_ANTHROPIC_SECRET_ARN" in str(raised.value)


@pytest.mark.usefixtures("aws_env", "clean_factory")
def test_a_cloud_stage_without_any_key_fails_closed_instead_of_going_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a cloud function (valid cloud settings) with neither a key nor a secret ARN
    for name, value in {
        "STEPWISE_STAGE": "prod",
        "STEPWISE_SENDER_EMAIL": "approvals@acme-demo.com",
        "STEPWISE_ESCALATION_APPROVER": "ops-lead@acme-demo.com",
        "STEPWISE_APPROVAL_LINK_BASE_URL": "https://abc.execute-api.us-east-1.amazonaws.com/prod/",
    }.items():
        monkeypatch.setenv(name, value)

    # When / Then the client is refused, naming the variable; an explicit offline switch still works
    with pytest.raises(factory.LLMConfigurationError, match="STEPWISE_ANTHROPIC_SECRET_ARN"):
        factory.get_llm_client()
    monkeypatch.setenv("STEPWISE_LLM_FORCE_OFFLINE", "true")
    factory.reset_llm_client()
    assert factory.build_anthropic(LLMSettings())[1] is True


def test_the_tool_schema_is_pydantics_and_a_fresh_copy_each_call() -> None:
    # Given a playbook
    book = playbook()

    # When a caller changes the tools it got
    first = book.tools()
    assert first[0]["input_schema"] == LeadScore.model_json_schema()
    schema: Any = first[0]["input_schema"]
    schema["properties"]["fit"]["type"] = "integer"

    # Then the next call still sends pydantic's schema: the cached prefix stays byte-identical
    assert book.tools()[0]["input_schema"] == LeadScore.model_json_schema()


def test_a_bound_subclass_validates_the_answer_but_the_schema_stays_the_playbook_s(
    make_client: ClientFactory, model: OfflineModel
) -> None:
    # Given an output model that binds a run-specific limit (as match_model and bound_to do)
    class HighScoreOnly(LeadScore):
        @field_validator("fit_score")
        @classmethod
        def _high(cls, value: int) -> int:
            if value < 90:
                raise ValueError("must be at least 90")
            return value

    model.script(TOOL, Reply({**VALID, "fit_score": 70}), Reply({**VALID, "fit_score": 95}))

    # When the client validates with it
    result = make_client().structured(
        operation="classify",
        playbook=playbook(),
        tool_name=TOOL,
        prompt=lead_prompt(name="Acme"),
        output_model=HighScoreOnly,
        context=CONTEXT,
    )

    # Then the bound model decided (one re-prompt) while both requests sent the task's schema
    assert (result.value.fit_score, result.reprompts) == (95, 1)
    assert [body["tools"] for body in model.requests] == [playbook().tools()] * 2


def test_an_output_model_outside_the_task_s_schema_is_refused_before_any_request(
    make_client: ClientFactory, model: OfflineModel
) -> None:
    class Other(BaseModel):
        label: str

    with pytest.raises(TypeError, match="Other is not LeadScore or a subclass"):
        make_client().structured(
            operation="classify",
            playbook=playbook(),
            tool_name=TOOL,
            prompt="x",
            output_model=Other,
            context=CONTEXT,
        )
    assert model.requests == []


def test_the_steps_of_one_workflow_share_one_cache_entry(
    make_client: ClientFactory, model: OfflineModel
) -> None:
    # Given a two-task playbook whose prefix is over the cache minimum
    book = Playbook(
        workflow="lead handling",
        tasks=(
            LLMTask(TOOL, "Score how well a lead fits the offer", LeadScore, LONG_SYSTEM),
            LLMTask("tag_lead", "Tag the lead", LeadScore, "Tag the lead for the campaign."),
        ),
    )
    model.script("tag_lead", Reply(VALID))
    client = make_client()

    def ask(tool: str) -> LLMResult[LeadScore]:
        return client.structured(
            operation="classify",
            playbook=book,
            tool_name=tool,
            prompt=lead_prompt(name="Acme"),
            output_model=LeadScore,
            context=CONTEXT,
        )

    # When the first step's task is asked, then the other step's
    first, second = ask(TOOL), ask("tag_lead")

    # Then the second step reads the whole prefix the first one wrote, though it forces another tool
    assert first.usage.cache_creation_input_tokens >= 2048
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert [body["tool_choice"]["name"] for body in model.requests] == [TOOL, "tag_lead"]


def test_a_playbook_names_each_task_once_and_refuses_an_unknown_one() -> None:
    task = LLMTask(TOOL, "d", LeadScore, SYSTEM)
    with pytest.raises(ValueError, match="unique tool names"):
        Playbook(workflow="w", tasks=(task, task))
    with pytest.raises(ValueError, match="has no task 'other'"):
        Playbook(workflow="w", tasks=(task,)).user_turn("other", "x")


def test_a_prefix_the_api_did_not_cache_is_logged_once_per_tool(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import logging

    from functions.shared.llm import client as client_module
    from functions.shared.observability import logger

    monkeypatch.setattr(client_module, "_UNCACHED_WARNED", set())
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)

    def warnings() -> list[dict[str, Any]]:
        records = [json.loads(line) for line in buffer.getvalue().splitlines()]
        return [r for r in records if "was not cached" in r["message"]]

    try:
        # Given a client on a model whose caching minimum is below one prefix and above another
        client = make_client()

        # When the long prefix is sent twice (written, then read), nothing is said
        score(client, system=LONG_SYSTEM)
        score(client, system=LONG_SYSTEM)
        assert warnings() == []

        # When the short prefix is sent twice, neither written nor read
        score(client, system=SYSTEM)
        score(client, system=SYSTEM)
    finally:
        logger.handlers.remove(capture)

    # Then one warning names the model and the tool
    assert [(w["model"], w["tool_name"]) for w in warnings()] == [("claude-sonnet-4-6", TOOL)]
    assert warnings()[0]["input_tokens"] > 0


def test_a_playbook_declared_below_the_caching_minimum_is_not_warned_about(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import io
    import logging

    from functions.shared.llm import client as client_module
    from functions.shared.observability import logger

    monkeypatch.setattr(client_module, "_UNCACHED_WARNED", set())
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    # Given the short (uncacheable) prefix, declared as a choice with its reason
    book = dataclasses.replace(playbook(SYSTEM), below_cache_minimum_ok="one call a day: not worth padding")
    try:
        # When it is sent and neither written nor read
        result = make_client().structured(
            operation="classify",
            playbook=book,
            tool_name=TOOL,
            prompt=lead_prompt(name="Acme", industry="retail"),
            output_model=LeadScore,
            context=CONTEXT,
        )
    finally:
        logger.handlers.remove(capture)

    # Then it was not cached, and nothing warns about the documented choice
    assert result.usage.cache_creation_input_tokens == result.usage.cache_read_input_tokens == 0
    assert "was not cached" not in buffer.getvalue()
