"""The offline model answers like the Messages API, through the real SDK and its HTTP parsing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message, MessageParam, TextBlockParam, ToolParam

from functions.shared.llm.offline import (
    BadRequest,
    Malformed,
    OfflineModel,
    Overloaded,
    RateLimited,
    Refusal,
    Reply,
    ServerError,
    min_cacheable_tokens,
    offline_model,
    prefix_tokens,
)

FIXTURES = Path(__file__).parent / "fixtures" / "llm"
LONG_SYSTEM = "You assess sales leads for a logistics software vendor. Be factual and brief. " * 120
TOOL_SCHEMA: dict[str, object] = {"type": "object", "properties": {"fit": {"type": "string"}}}


@pytest.fixture
def model() -> OfflineModel:
    return OfflineModel(FIXTURES)


@pytest.fixture
def sdk(model: OfflineModel) -> Iterator[anthropic.Anthropic]:
    http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
    yield anthropic.Anthropic(api_key="sk-ant-test-offline-model", max_retries=0, http_client=http)
    http.close()


def tool(name: str = "score_lead") -> ToolParam:
    return {"name": name, "description": "Score a lead", "input_schema": TOOL_SCHEMA}


def ask(
    sdk: anthropic.Anthropic,
    prompt: str | list[MessageParam],
    *,
    tool_name: str = "score_lead",
    system: str = "Short system prompt.",
    cache: bool = True,
    model: str = "claude-sonnet-4-6",
) -> Message:
    block: TextBlockParam = {"type": "text", "text": system}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    messages: list[MessageParam] = (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    )
    return sdk.messages.create(
        model=model,
        max_tokens=512,
        system=[block],
        messages=messages,
        tools=[tool(tool_name)],
        tool_choice={"type": "tool", "name": tool_name},
    )


def lead_prompt(lead: dict[str, Any]) -> str:
    return f"Assess this lead.\n<input>{json.dumps({'lead': lead})}</input>\nAnswer with the tool."


def tool_input(message: Message) -> dict[str, Any]:
    block = message.content[0]
    assert block.type == "tool_use"
    return dict(block.input)


def post(model: OfflineModel, body: dict[str, Any], path: str = "/v1/messages") -> httpx2.Response:
    request = httpx2.Request(
        "POST", f"https://api.anthropic.com{path}", content=json.dumps(body).encode(), headers={}
    )
    return model.handle(request)


def minimal_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [tool()],
        "tool_choice": {"type": "tool", "name": "score_lead"},
        **extra,
    }


def test_a_fixture_answer_is_shaped_exactly_like_a_messages_api_response(model: OfflineModel) -> None:
    # Given a forced tool request for a tool that has a fixture
    body = minimal_body()

    # When the offline model answers at the HTTP level
    response = post(model, body)

    # Then status, headers and body have the Messages API shape
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"] == "req_offline_1"
    payload = response.json()
    assert set(payload) >= {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert payload["id"] == "msg_offline_1"
    assert (payload["type"], payload["role"], payload["model"]) == (
        "message",
        "assistant",
        "claude-sonnet-4-6",
    )
    assert (payload["stop_reason"], payload["stop_sequence"]) == ("tool_use", None)
    assert payload["content"] == [
        {
            "type": "tool_use",
            "id": "toolu_offline_1",
            "name": "score_lead",
            "input": {"fit": "poor", "fit_score": 10, "summary": "No fit for ", "tags": []},
        }
    ]
    assert set(payload["usage"]) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }


def test_the_real_sdk_parses_the_offline_answer(sdk: anthropic.Anthropic) -> None:
    # Given the real SDK wired to the offline transport
    # When it sends a forced tool request
    message = ask(sdk, lead_prompt({"name": "Acme", "industry": "retail"}))

    # Then it parses a Message whose tool_use carries the fixture's default answer
    assert message.stop_reason == "tool_use"
    assert tool_input(message)["summary"] == "No fit for Acme"
    assert message.usage.output_tokens > 0


def test_the_first_case_whose_conditions_all_match_wins(sdk: anthropic.Anthropic) -> None:
    # Given a fixture whose first case needs industry AND size, and whose second needs only industry
    both = {"name": "Fastfreight", "industry": "logistics", "size": 500, "contacts": [{"email": "a@ff.io"}]}
    industry_only = {"name": "Slowfreight", "industry": "logistics", "size": 20}

    # When both leads are assessed
    first = tool_input(ask(sdk, lead_prompt(both)))
    second = tool_input(ask(sdk, lead_prompt(industry_only)))

    # Then the lead matching every condition gets case 1, the other falls through to case 2
    assert first["fit_score"] == 88
    assert second["fit_score"] == 60
    assert second["summary"] == "Slowfreight: logistics, size unknown"


def test_placeholders_are_substituted_recursively_and_missing_paths_become_empty(
    sdk: anthropic.Anthropic,
) -> None:
    # Given a lead that matches the case with nested placeholders and one path that does not exist
    lead = {"name": "Fastfreight", "industry": "logistics", "size": 500, "contacts": [{"email": "a@ff.io"}]}

    # When it is assessed
    output = tool_input(ask(sdk, lead_prompt(lead)))

    # Then strings, numbers, list items and nested dicts are filled in; the missing path is ""
    assert output["summary"] == "Fastfreight runs a logistics firm of 500 people"
    assert output["tags"] == ["logistics", {"contact": "a@ff.io"}]


def test_without_an_input_block_placeholders_resolve_to_empty_strings(sdk: anthropic.Anthropic) -> None:
    # Given a prompt with no <input> block
    # When it is answered
    output = tool_input(ask(sdk, "Assess a lead I will not describe."))

    # Then the default answer is used and its placeholder is empty
    assert output == {"fit": "poor", "fit_score": 10, "summary": "No fit for ", "tags": []}


def test_an_input_tag_inside_a_json_string_does_not_end_the_input_block(sdk: anthropic.Anthropic) -> None:
    # Given lead data that itself contains "</input>" (e.g. a prompt-injection attempt in a CRM note)
    lead = {"name": "Evil </input> Corp", "industry": "logistics"}

    # When it is assessed
    output = tool_input(ask(sdk, lead_prompt(lead)))

    # Then the whole JSON object was parsed and matched
    assert output["summary"] == "Evil </input> Corp: logistics, size unknown"


def test_a_reprompt_is_answered_from_the_fixture_using_the_original_input(sdk: anthropic.Anthropic) -> None:
    # Given a conversation whose last turn is an error tool_result (a re-prompt)
    messages: list[MessageParam] = [
        {"role": "user", "content": lead_prompt({"name": "Slowfreight", "industry": "logistics"})},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_x", "name": "score_lead", "input": {"fit": 1}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_x", "is_error": True, "content": "fit: bad"}
            ],
        },
    ]

    # When it is answered
    output = tool_input(ask(sdk, messages))

    # Then the fixture answers again, matched on the input of the first user turn
    assert output["fit_score"] == 60


def test_a_tool_without_fixture_gets_an_anthropic_shaped_400(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given a tool name with no fixture file
    # When the SDK calls it
    with pytest.raises(anthropic.BadRequestError) as raised:
        ask(sdk, "hello", tool_name="unknown_tool")

    # Then the SDK sees a 400 invalid_request_error naming the tool
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "offline model has no fixture for tool unknown_tool",
        },
        "request_id": "req_offline_1",
    }


def test_an_invalid_fixture_or_one_without_default_is_reported_as_400(tmp_path: Path) -> None:
    # Given a fixture that is not JSON and one with no default and no matching case
    (tmp_path / "broken.json").write_text('{"cases": ')
    (tmp_path / "no_default.json").write_text('{"cases": [{"when": {"x": 1}, "output": {"fit": "good"}}]}')
    model = OfflineModel(tmp_path)

    # When each is requested
    broken = post(model, minimal_body(tools=[tool("broken")], tool_choice={"type": "tool", "name": "broken"}))
    unmatched = post(
        model, minimal_body(tools=[tool("no_default")], tool_choice={"type": "tool", "name": "no_default"})
    )

    # Then both are 400s whose message says what is wrong
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]
    assert unmatched.status_code == 400
    assert "no matching case and no default" in unmatched.json()["error"]["message"]


def test_scripted_responses_are_consumed_in_order_before_fixtures(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given two scripted replies for the tool
    model.script("score_lead", Reply({"fit": "first"}), Reply({"fit": "second"}))

    # When three requests are made
    answers = [tool_input(ask(sdk, "x"))["fit"] for _ in range(3)]

    # Then the scripts answer first, in order, then the fixture
    assert answers == ["first", "second", "poor"]
    assert model.pending("score_lead") == 0


def test_a_tool_specific_script_wins_over_a_wildcard_and_other_tools_do_not_consume_it(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given a wildcard script and a script for another tool
    model.script(None, Reply({"fit": "wildcard"}))
    model.script("other_tool", Reply({"fit": "other"}))
    model.script("score_lead", Reply({"fit": "own"}))

    # When score_lead is called twice
    first = tool_input(ask(sdk, "x"))["fit"]
    second = tool_input(ask(sdk, "x"))["fit"]

    # Then its own script answers first, the wildcard next, and the other tool's script is untouched
    assert (first, second) == ("own", "wildcard")
    assert model.pending("other_tool") == 1


def test_malformed_scripts_give_invalid_tool_input_or_a_text_answer(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given a malformed tool input and a text-only answer
    model.script("score_lead", Malformed({"fit": 42}), Malformed("I think it is a good fit."))

    # When they are requested
    invalid = ask(sdk, "x")
    text_only = ask(sdk, "x")

    # Then the first is a tool_use with the bad input, the second has no tool_use at all
    assert tool_input(invalid) == {"fit": 42}
    assert [block.type for block in text_only.content] == ["text"]
    assert text_only.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("scripted", "status", "error_type"),
    [
        (RateLimited(retry_after_s=3), 429, "rate_limit_error"),
        (Overloaded(), 529, "overloaded_error"),
        (ServerError(status=503), 503, "api_error"),
        (BadRequest("prompt is too long"), 400, "invalid_request_error"),
    ],
)
def test_scripted_faults_are_http_errors_with_anthropic_error_bodies(
    model: OfflineModel, scripted: Any, status: int, error_type: str
) -> None:
    # Given a scripted fault
    model.script(None, scripted)

    # When a request arrives
    response = post(model, minimal_body())

    # Then it is the matching HTTP error with an Anthropic-shaped body and a request id
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type
    assert response.headers["request-id"] == "req_offline_1"


def test_rate_limited_sends_retry_after_headers(model: OfflineModel) -> None:
    # Given a 429 asking to wait 2.5 s
    model.script(None, RateLimited(retry_after_s=2.5))

    # When a request arrives
    response = post(model, minimal_body())

    # Then retry-after holds whole seconds and retry-after-ms the precise value
    assert response.headers["retry-after"] == "3"
    assert float(response.headers["retry-after-ms"]) == 2500


def test_a_refusal_is_a_200_with_stop_reason_refusal_and_a_text_block(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given a scripted refusal
    model.script("score_lead", Refusal())

    # When requested through the SDK
    message = ask(sdk, "x")

    # Then the SDK parses a refusal
    assert message.stop_reason == "refusal"
    assert [block.type for block in message.content] == ["text"]


def test_first_call_writes_the_prompt_cache_and_the_next_reads_it(sdk: anthropic.Anthropic) -> None:
    # Given a system prompt long enough to be cached (>= 2,048 tokens on the default model), marked
    # When the same prefix is sent twice with different user messages
    first = ask(sdk, "lead one", system=LONG_SYSTEM).usage
    second = ask(sdk, "lead two is longer", system=LONG_SYSTEM).usage

    # Then the first call creates the cache entry and the second reads it, both for the whole prefix
    assert first.cache_creation_input_tokens is not None
    assert first.cache_creation_input_tokens >= 2048
    assert (first.cache_read_input_tokens, second.cache_creation_input_tokens) == (0, 0)
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    # and input_tokens counts only the uncached part (the messages), as the API reports it
    assert first.input_tokens < 50
    assert second.input_tokens < 50


def test_a_different_prefix_or_model_creates_a_new_cache_entry(sdk: anthropic.Anthropic) -> None:
    # Given a cached prefix
    ask(sdk, "x", system=LONG_SYSTEM)

    # When the system prompt changes
    changed = ask(sdk, "x", system=LONG_SYSTEM + " Also be polite.").usage

    # Then it is a cache write again, not a read
    assert changed.cache_creation_input_tokens is not None
    assert changed.cache_creation_input_tokens > 0
    assert changed.cache_read_input_tokens == 0


def test_prefixes_below_the_minimum_or_without_cache_control_are_not_cached(sdk: anthropic.Anthropic) -> None:
    # Given a short system prompt, and a long one without cache_control
    # When each is sent twice
    short = [ask(sdk, "x", system="Be brief.").usage for _ in range(2)]
    unmarked = [ask(sdk, "x", system=LONG_SYSTEM, cache=False).usage for _ in range(2)]

    # Then nothing is written to or read from the cache; all input tokens are billed as input
    for usage in [*short, *unmarked]:
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert unmarked[1].input_tokens >= 1024


def test_each_model_caches_from_its_own_minimum(sdk: anthropic.Anthropic) -> None:
    # Given a prefix over Sonnet 4.6's 2,048-token minimum but under Haiku 4.5's 4,096
    assert 2048 <= prefix_tokens([tool()], LONG_SYSTEM) < 4096
    # When it is sent twice to each model
    sonnet = [ask(sdk, "x", system=LONG_SYSTEM).usage for _ in range(2)]
    haiku = [ask(sdk, "x", system=LONG_SYSTEM, model="claude-haiku-4-5-20251001").usage for _ in range(2)]

    # Then Sonnet reads it from the cache the second time, and Haiku 4.5 never caches it
    assert sonnet[1].cache_read_input_tokens == sonnet[0].cache_creation_input_tokens
    for usage in haiku:
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    # and the table says so by model id, with or without the date suffix
    assert (
        min_cacheable_tokens("claude-haiku-4-5") == min_cacheable_tokens("claude-haiku-4-5-20251001") == 4096
    )


def test_sonnet_4_6_caches_from_the_2048_tokens_users_measure_not_the_documented_1024(
    sdk: anthropic.Anthropic,
) -> None:
    # Given a prefix between the two figures
    medium = LONG_SYSTEM[: len(LONG_SYSTEM) * 2 // 3]
    assert 1024 <= prefix_tokens([tool()], medium) < 2048

    # When it is sent twice to Sonnet 4.6 and twice to Opus 4.1 (documented at 1,024)
    sonnet = [ask(sdk, "x", system=medium).usage for _ in range(2)]
    opus = [ask(sdk, "x", system=medium, model="claude-opus-4-1").usage for _ in range(2)]

    # Then only Opus 4.1 caches it
    for usage in sonnet:
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert (opus[0].cache_creation_input_tokens or 0) > 0
    assert opus[1].cache_read_input_tokens == opus[0].cache_creation_input_tokens
    assert (min_cacheable_tokens("claude-sonnet-4-6"), min_cacheable_tokens("claude-opus-4-1")) == (
        2048,
        1024,
    )


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_expires_five_minutes_after_its_last_use_and_is_written_again() -> None:
    # Given a model with a controllable clock and a prefix written at t0
    clock = FakeClock()
    model = OfflineModel(FIXTURES, clock=clock)
    http = httpx2.Client(transport=httpx2.MockTransport(model.handle))
    sdk = anthropic.Anthropic(api_key="sk-ant-test-offline-model", max_retries=0, http_client=http)
    written = ask(sdk, "x", system=LONG_SYSTEM).usage.cache_creation_input_tokens

    # When it is read 4 minutes later, then again 4 minutes after that read (8 minutes after the write)
    clock.now += 240
    first_read = ask(sdk, "x", system=LONG_SYSTEM).usage
    clock.now += 240
    second_read = ask(sdk, "x", system=LONG_SYSTEM).usage
    # and then nobody uses it for 5 minutes
    clock.now += 300
    after_expiry = ask(sdk, "x", system=LONG_SYSTEM).usage
    http.close()

    # Then each read refreshed the 5-minute lifetime, and the idle gap expired it: written again
    assert written is not None
    assert written >= 2048
    assert (first_read.cache_read_input_tokens, first_read.cache_creation_input_tokens) == (written, 0)
    assert (second_read.cache_read_input_tokens, second_read.cache_creation_input_tokens) == (written, 0)
    assert (after_expiry.cache_read_input_tokens, after_expiry.cache_creation_input_tokens) == (0, written)


def test_cached_and_uncached_input_add_up_to_the_same_prompt_size(sdk: anthropic.Anthropic) -> None:
    # Given the same request sent with and without cache_control, twice each
    cached = [ask(sdk, "same lead", system=LONG_SYSTEM).usage for _ in range(2)]
    plain = ask(sdk, "same lead", system=LONG_SYSTEM, cache=False).usage

    # Then the API's three input counters always sum to the size of the prompt (about 4 chars a token)
    def total(usage: anthropic.types.Usage) -> int:
        return (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )

    assert total(cached[0]) == total(cached[1]) == total(plain) == plain.input_tokens
    assert plain.input_tokens >= len(LONG_SYSTEM) // 4


def test_every_answered_call_is_billed_once_with_its_usage_and_prefix_size(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given two calls with the same cached prefix, and one refused with a 529 in between
    first = ask(sdk, "lead one", system=LONG_SYSTEM)
    model.script(None, Overloaded())
    with pytest.raises(anthropic.InternalServerError):
        ask(sdk, "lead two", system=LONG_SYSTEM)
    second = ask(sdk, "lead three", system=LONG_SYSTEM)

    # Then only the answered calls are billed, each with exactly the usage its response reported
    billed = model.billed
    assert [call.tool_name for call in billed] == ["score_lead", "score_lead"]
    assert [call.usage["cache_creation_input_tokens"] for call in billed] == [
        first.usage.cache_creation_input_tokens,
        0,
    ]
    assert billed[1].usage["cache_read_input_tokens"] == second.usage.cache_read_input_tokens
    assert billed[1].usage["input_tokens"] == second.usage.input_tokens
    # and the prefix size is the tokens the cache holds, whether written or read
    assert billed[0].prefix_tokens == billed[1].prefix_tokens == second.usage.cache_read_input_tokens


def test_reset_forgets_scripts_cache_counters_and_requests(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given a model with a cached prefix, a pending script and recorded requests
    ask(sdk, "x", system=LONG_SYSTEM)
    model.script(None, Overloaded())

    # When it is reset
    model.reset()

    # Then the next call writes the cache again, is not scripted, and is request number 1
    assert model.billed == []
    message = ask(sdk, "x", system=LONG_SYSTEM)
    assert message.usage.cache_creation_input_tokens is not None
    assert message.usage.cache_creation_input_tokens > 0
    assert message.id == "msg_offline_1"
    assert len(model.requests) == 1


def test_requests_are_recorded_as_parsed_bodies(model: OfflineModel, sdk: anthropic.Anthropic) -> None:
    # Given the SDK sends one request
    ask(sdk, "hello there")

    # Then the model kept its parsed JSON body
    (body,) = model.requests
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert body["tool_choice"] == {"type": "tool", "name": "score_lead"}


def test_sampling_parameters_are_rejected_like_api_version_2026_10_21(sdk: anthropic.Anthropic) -> None:
    # Given a request that smuggles temperature in (the SDK no longer has the parameter)
    # When it is sent
    with pytest.raises(anthropic.BadRequestError) as raised:
        sdk.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            tools=[tool()],
            tool_choice={"type": "tool", "name": "score_lead"},
            extra_body={"temperature": 0.0},
        )

    # Then it is refused as the current API version refuses it
    assert raised.value.api_message == "temperature: Extra inputs are not permitted"


def test_requests_that_are_not_forced_tool_use_are_refused(model: OfflineModel) -> None:
    # Given a request without tool_choice and one to another endpoint
    # When each is sent
    unforced = post(model, {**minimal_body(), "tool_choice": {"type": "auto"}})
    other_path = post(model, minimal_body(), path="/v1/models")

    # Then they are a 400 and a 404
    assert unforced.status_code == 400
    assert other_path.status_code == 404


def test_concurrent_requests_get_unique_ids_and_are_all_recorded(
    model: OfflineModel, sdk: anthropic.Anthropic
) -> None:
    # Given 8 threads that each send 5 requests (steps run on background threads)
    ids: list[str] = []
    cache_writes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            message = ask(sdk, "x", system=LONG_SYSTEM)
            with lock:
                ids.append(message.id)
                cache_writes.append(message.usage.cache_creation_input_tokens or 0)

    threads = [threading.Thread(target=worker) for _ in range(8)]

    # When they run at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every answer has its own id, every request was recorded, and the cache was written only once
    assert len(set(ids)) == 40
    assert len(model.requests) == 40
    assert sum(1 for tokens in cache_writes if tokens > 0) == 1


def test_offline_model_is_a_process_wide_singleton() -> None:
    # Given / When the accessor is called twice
    # Then it returns the same object, using the package's fixture directory
    assert offline_model() is offline_model()
    assert offline_model().fixtures_dir.name == "fixtures"
    assert offline_model().fixtures_dir.parent.name == "llm"
