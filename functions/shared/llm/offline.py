"""A deterministic stand-in for the Messages API, served through ``httpx2.MockTransport``.

The real SDK sends real requests and parses real-shaped responses, so offline runs exercise the same
code (retries, error mapping, re-prompts, prompt-cache accounting) as the cloud, with no key and no cost.
Answers come from per-tool JSON fixtures; tests can script faults (429, 529, malformed, refusal).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

DEFAULT_FIXTURES_DIR = Path(__file__).parent / "fixtures"
#: The API's documented minimum for Sonnet-class models (and Opus 4.1/4); shorter prefixes are not
#: cached.
DEFAULT_MIN_CACHEABLE_TOKENS = 1024
#: Models whose minimum differs from the default (by id without its date suffix): the documented one,
#: except ``claude-sonnet-4-6``. Anthropic's docs give it 1,024, but users measure about 2,048 on
#: the API (anthropics/anthropic-sdk-python#1194: no cache at ~1,024, cached from 2,048, while the
#: same code caches on sonnet-4-5) and on Bedrock (BerriAI/litellm-docs#49: not at 2,038, cached
#: at 2,067), and some gateways' docs list 2,048. This model takes the higher figure, so that local
#: numbers never show a saving the API may not give; a prefix over 2,048 caches either way.
MIN_CACHEABLE_TOKENS_BY_MODEL: dict[str, int] = {
    "claude-opus-4-6": 4096,
    "claude-opus-4-5": 4096,
    "claude-haiku-4-5": 4096,
    "claude-sonnet-4-6": 2048,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
}
_DATE_SUFFIX = re.compile(r"-\d{8}$")


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches (Anthropic's prompt-caching docs, or what users measure
    where that is higher: see ``MIN_CACHEABLE_TOKENS_BY_MODEL``)."""
    return MIN_CACHEABLE_TOKENS_BY_MODEL.get(_DATE_SUFFIX.sub("", model), DEFAULT_MIN_CACHEABLE_TOKENS)


#: ``cache_control: {"type": "ephemeral"}`` lives 5 minutes, and every read refreshes it.
DEFAULT_CACHE_TTL_S = 300.0
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_INPUT_OPEN = "<input>"
_MISSING = object()
#: API version 2026-10-21 removed the sampling parameters; a request carrying one gets a 400.
_REMOVED_SAMPLING_PARAMS = ("temperature", "top_p", "top_k")


@dataclass(frozen=True)
class Reply:
    """A valid answer: a ``tool_use`` block whose input is ``output``."""

    output: dict[str, Any]


@dataclass(frozen=True)
class Malformed:
    """A ``tool_use`` whose input violates the schema; a ``str`` means a text answer with no tool use."""

    output: dict[str, Any] | str


@dataclass(frozen=True)
class RateLimited:
    """HTTP 429 ``rate_limit_error`` with ``retry-after``.

    The SDK waits ``retry-after-ms`` (sent too) when it is > 0; with 0 it falls back to its own backoff
    (0.5 s and up), so tests that let the SDK retry should use a small positive value such as 0.001.
    """

    retry_after_s: float = 0


@dataclass(frozen=True)
class Overloaded:
    """HTTP 529 ``overloaded_error`` (``retry_after_s`` adds the retry headers, see ``RateLimited``)."""

    retry_after_s: float | None = None


@dataclass(frozen=True)
class ServerError:
    """HTTP 5xx ``api_error``."""

    status: int = 500
    retry_after_s: float | None = None


@dataclass(frozen=True)
class BadRequest:
    """HTTP 400 ``invalid_request_error`` (not retried by the SDK)."""

    message: str = "offline model: scripted bad request"


@dataclass(frozen=True)
class Refusal:
    """HTTP 200 with ``stop_reason: "refusal"`` and a text block."""

    text: str = "I can't help with that request."


ScriptedResponse = Reply | Malformed | RateLimited | Overloaded | ServerError | BadRequest | Refusal


@dataclass(frozen=True)
class BilledCall:
    """One answered request's usage, as the response reported it (what the API would bill)."""

    tool_name: str
    model: str
    usage: dict[str, Any]
    prefix_tokens: int  # the static prefix (tools + system) of the request, cached or not


class FixtureError(Exception):
    """A fixture is missing or invalid; answered as an HTTP 400 so the caller sees a request error."""


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lookup(data: Any, dotted: str) -> Any:
    """``data["a"]["b"][0]`` for ``"a.b.0"``; ``_MISSING`` when any part is absent."""
    current = data
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _render(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def substitute(template: Any, data: Any) -> Any:
    """Replace ``{{dotted.path}}`` in every string of ``template`` (recursively) with values of ``data``."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda match: _render(lookup(data, match.group(1))), template)
    if isinstance(template, dict):
        return {key: substitute(value, data) for key, value in template.items()}
    if isinstance(template, list):
        return [substitute(item, data) for item in template]
    return template


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
    return texts


def extract_input(messages: list[Any]) -> dict[str, Any]:
    """The JSON object between ``<input>`` and ``</input>`` in the latest user text that has one.

    Parsed with ``raw_decode`` so a ``</input>`` inside a JSON string cannot end the block early.
    """
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        for text in reversed(_texts(message.get("content"))):
            start = text.find(_INPUT_OPEN)
            if start < 0:
                continue
            try:
                value, _ = json.JSONDecoder().raw_decode(text[start + len(_INPUT_OPEN) :].lstrip())
            except json.JSONDecodeError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _has_cache_control(body: dict[str, Any]) -> bool:
    if body.get("cache_control"):
        return True
    blocks = [*body.get("tools", []), *(body["system"] if isinstance(body.get("system"), list) else [])]
    return any(isinstance(block, dict) and block.get("cache_control") for block in blocks)


def _system_text(system: Any) -> str:
    return "".join(_texts(system)) if system is not None else ""


def prefix_tokens(tools: Any, system: Any) -> int:
    """Tokens of the static prefix (tools, then system), counted the way this model bills them."""
    return _tokens(_dumps(tools or []) + _system_text(system))


class OfflineModel:
    """Answers ``POST /v1/messages`` deterministically. One lock guards all state."""

    def __init__(
        self,
        fixtures_dir: Path | str = DEFAULT_FIXTURES_DIR,
        *,
        min_cacheable_tokens: int | None = None,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fixtures_dir = Path(fixtures_dir)
        self.min_cacheable_tokens = min_cacheable_tokens
        self.cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[ScriptedResponse]] = {}
        self._fixtures: dict[str, dict[str, Any]] = {}
        self._cached_prefixes: dict[str, float] = {}  # prefix key -> when the entry expires
        self._requests: list[dict[str, Any]] = []
        self._billed: list[BilledCall] = []
        self._counter = 0
        #: Simulated seconds each answered call takes, and what lets them pass (``simulate_latency``).
        self._latency_s = 0.0
        self._advance: Callable[[float], None] | None = None

    # -- scripting ---------------------------------------------------------------------------------

    def script(self, tool_name: str | None, *responses: ScriptedResponse) -> None:
        """Queue ``responses`` for the next requests forcing ``tool_name`` (``None``: any tool).

        A tool's own queue is used before the ``None`` queue; fixtures answer once both are empty.
        """
        with self._lock:
            self._scripts.setdefault(tool_name, deque()).extend(responses)

    def pending(self, tool_name: str | None = None) -> int:
        """How many scripted responses for ``tool_name`` are still queued."""
        with self._lock:
            return len(self._scripts.get(tool_name, ()))

    def simulate_latency(self, seconds_per_call: float, advance: Callable[[float], None]) -> None:
        """Each call takes ``seconds_per_call``, let pass by ``advance`` (the local runtime's
        invocation clock: no sleeping; ``local.limits.simulate_latency``). ``reset`` undoes it."""
        with self._lock:
            self._latency_s = seconds_per_call
            self._advance = advance

    def reset(self) -> None:
        """Forget scripts, the prompt-cache memory, counters, recorded requests, loaded fixtures and
        simulated latency."""
        with self._lock:
            self._latency_s = 0.0
            self._advance = None
            self._scripts.clear()
            self._fixtures.clear()
            self._cached_prefixes.clear()
            self._requests.clear()
            self._billed.clear()
            self._counter = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the parsed bodies of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def billed(self) -> list[BilledCall]:
        """A copy of the usage of every answered (HTTP 200) request, oldest first."""
        with self._lock:
            return list(self._billed)

    # -- transport handler -------------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """The ``httpx2.MockTransport`` handler."""
        with self._lock:
            latency, advance = self._latency_s, self._advance
        if advance is not None and latency > 0:
            advance(latency)  # may end the invocation here (its timeout), as a slow call would
        return self._handle(request)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self._counter += 1
            n = self._counter
            if request.method != "POST" or not request.url.path.endswith("/v1/messages"):
                return _error(
                    n,
                    404,
                    "not_found_error",
                    f"offline model serves POST /v1/messages only, not {request.method} {request.url.path}",
                )
            try:
                body = json.loads(request.content)
            except ValueError:
                return _error(n, 400, "invalid_request_error", "request body is not JSON")
            if not isinstance(body, dict):
                return _error(n, 400, "invalid_request_error", "request body must be a JSON object")
            self._requests.append(body)
            problem = self._validate(request, body)
            if problem is not None:
                return _error(n, 400, "invalid_request_error", problem)
            tool_name = str(body["tool_choice"]["name"])
            scripted = self._next_script(tool_name)
            try:
                return self._answer(n, body, tool_name, scripted)
            except FixtureError as exc:
                return _error(n, 400, "invalid_request_error", str(exc))

    def _validate(self, request: httpx2.Request, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("model"), str) or not isinstance(body.get("max_tokens"), int):
            return "model and max_tokens are required"
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "messages: at least one message is required"
        if request.headers.get("anthropic-version", "2023-06-01") >= "2026-10-21":
            for name in _REMOVED_SAMPLING_PARAMS:
                if name in body:
                    return f"{name}: Extra inputs are not permitted"
        choice = body.get("tool_choice")
        if not isinstance(choice, dict) or choice.get("type") != "tool" or not choice.get("name"):
            return "offline model only answers forced tool use (tool_choice type 'tool')"
        names = {tool.get("name") for tool in body.get("tools", []) if isinstance(tool, dict)}
        if choice["name"] not in names:
            return f"tool_choice names tool {choice['name']!r}, which is not in tools"
        return None

    def _next_script(self, tool_name: str) -> ScriptedResponse | None:
        for key in (tool_name, None):
            queue = self._scripts.get(key)
            if queue:
                return queue.popleft()
        return None

    def _answer(  # noqa: PLR0911 - one return per kind of scripted response
        self, n: int, body: dict[str, Any], tool_name: str, scripted: ScriptedResponse | None
    ) -> httpx2.Response:
        match scripted:
            case RateLimited(retry_after_s=delay):
                return _error(n, 429, "rate_limit_error", "offline model: rate limited", retry_after=delay)
            case Overloaded(retry_after_s=delay):
                return _error(n, 529, "overloaded_error", "offline model: overloaded", retry_after=delay)
            case ServerError(status=status, retry_after_s=delay):
                return _error(n, status, "api_error", "offline model: internal error", retry_after=delay)
            case BadRequest(message=message):
                return _error(n, 400, "invalid_request_error", message)
            case Refusal(text=text):
                block: dict[str, Any] = {"type": "text", "text": text, "citations": None}
                return self._message(n, body, block, "refusal")
            case Malformed(output=str() as text):
                return self._message(n, body, {"type": "text", "text": text, "citations": None}, "end_turn")
            case Malformed(output=dict() as output) | Reply(output=output):
                return self._message(n, body, _tool_use(n, tool_name, output), "tool_use")
            case None:
                output = self._fixture_output(tool_name, body["messages"])
                return self._message(n, body, _tool_use(n, tool_name, output), "tool_use")
        raise AssertionError(f"unknown scripted response {scripted!r}")  # pragma: no cover

    def _fixture_output(self, tool_name: str, messages: list[Any]) -> dict[str, Any]:
        # A re-prompt (last turn = tool_result with is_error) is answered from the fixture too: the
        # fixture output is valid, so the re-prompt recovers. The input is found in an earlier turn.
        fixture = self._load_fixture(tool_name)
        data = extract_input(messages)
        chosen: Any = fixture.get("default")
        for case in fixture.get("cases", []):
            when = case.get("when", {})
            if all(lookup(data, path) == expected for path, expected in when.items()):
                chosen = case.get("output")
                break
        if not isinstance(chosen, dict):
            raise FixtureError(f"offline fixture for tool {tool_name} has no matching case and no default")
        rendered: dict[str, Any] = substitute(chosen, data)
        return rendered

    def _load_fixture(self, tool_name: str) -> dict[str, Any]:
        if tool_name in self._fixtures:
            return self._fixtures[tool_name]
        if not _TOOL_NAME.match(tool_name):
            raise FixtureError(f"offline model has no fixture for tool {tool_name}")
        path = self.fixtures_dir / f"{tool_name}.json"
        try:
            fixture = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FixtureError(f"offline model has no fixture for tool {tool_name}") from None
        except ValueError as exc:
            raise FixtureError(f"offline fixture {path.name} is not valid JSON: {exc}") from None
        cases = fixture.get("cases", []) if isinstance(fixture, dict) else None
        if not isinstance(cases, list) or not all(
            isinstance(case, dict) and isinstance(case.get("when", {}), dict) for case in cases
        ):
            raise FixtureError(
                f"offline fixture {path.name} must look like {{'cases': [{{'when', 'output'}}], 'default'}}"
            )
        loaded: dict[str, Any] = fixture
        self._fixtures[tool_name] = loaded
        return loaded

    def _usage(self, body: dict[str, Any], output_text: str) -> dict[str, Any]:
        tools = body.get("tools", [])
        prefix = prefix_tokens(tools, body.get("system"))
        message_tokens = _tokens(_dumps(body["messages"]))
        created = read = 0
        minimum = self.min_cacheable_tokens
        if minimum is None:
            minimum = min_cacheable_tokens(str(body["model"]))
        if _has_cache_control(body) and prefix >= minimum:
            # The cached prefix is tools + system (the API's order, up to the breakpoint), per model.
            key = hashlib.sha256(_dumps([body["model"], tools, body.get("system")]).encode()).hexdigest()
            now = self._clock()
            if now < self._cached_prefixes.get(key, now):
                read = prefix
            else:
                created = prefix
            self._cached_prefixes[key] = now + self.cache_ttl_s  # a write or a hit (re)starts the TTL
        cached = created + read
        return {
            "input_tokens": prefix + message_tokens - cached,
            "output_tokens": max(1, _tokens(output_text)),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": created, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        }

    def _message(
        self, n: int, body: dict[str, Any], block: dict[str, Any], stop_reason: str
    ) -> httpx2.Response:
        output_text = _dumps(block["input"]) if block["type"] == "tool_use" else str(block.get("text", ""))
        usage = self._usage(body, output_text)
        payload = {
            "id": f"msg_offline_{n}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "stop_details": {"type": "refusal", "category": None, "explanation": None}
            if stop_reason == "refusal"
            else None,
            "usage": usage,
        }
        self._billed.append(
            BilledCall(
                tool_name=str(body["tool_choice"]["name"]),
                model=str(body["model"]),
                usage=usage,
                prefix_tokens=prefix_tokens(body.get("tools", []), body.get("system")),
            )
        )
        return httpx2.Response(200, headers=_headers(n), content=json.dumps(payload).encode("utf-8"))


def _tool_use(n: int, tool_name: str, output: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_offline_{n}", "name": tool_name, "input": output}


def _headers(n: int, retry_after: float | None = None) -> dict[str, str]:
    headers = {"request-id": f"req_offline_{n}", "content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = str(math.ceil(retry_after))
        headers["retry-after-ms"] = str(round(retry_after * 1000, 3))
    return headers


def _error(
    n: int, status: int, error_type: str, message: str, retry_after: float | None = None
) -> httpx2.Response:
    payload = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": f"req_offline_{n}",
    }
    return httpx2.Response(
        status, headers=_headers(n, retry_after), content=json.dumps(payload).encode("utf-8")
    )


_SINGLETON_LOCK = threading.Lock()
_singleton: OfflineModel | None = None


def offline_model() -> OfflineModel:
    """The process-wide offline model that ``get_llm_client()`` uses, so tests can script it."""
    global _singleton  # noqa: PLW0603 - a lazily built process-wide singleton
    with _SINGLETON_LOCK:
        if _singleton is None:
            _singleton = OfflineModel()
        return _singleton
