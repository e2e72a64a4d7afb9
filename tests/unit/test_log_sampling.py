"""Per-run log sampling: a run logs everything or only its warnings, and every record names the run."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from pydantic import BaseModel

from functions.shared import log_payloads
from functions.shared.approvals import Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import BusinessRuleError
from functions.shared.llm.offline import Malformed, offline_model
from functions.shared.log_payloads import INLINE_LIMIT_BYTES, loggable, logs_key
from functions.shared.log_sampling import is_sampled, sample_position
from functions.shared.observability import logger
from functions.shared.step_handler import StepContext, step_handler
from local.dispatch import LocalLambdaContext
from local.runtime import LocalRuntime

RATE = 0.1


def trace_ids(
    sampled: bool, count: int = 1, rate: float = RATE, prefix: str = "sales_outreach-run"
) -> list[str]:
    """The first ``count`` trace ids ``<prefix>-<n>`` on the given side of ``rate`` (no randomness)."""
    found = [
        f"{prefix}-{n:04d}" for n in range(10_000) if (sample_position(f"{prefix}-{n:04d}") < rate) == sampled
    ]
    return found[:count]


Logs = Callable[[], list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def _default_rate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's own STEPWISE_LOG_SAMPLE_RATE must not change what these tests see."""
    monkeypatch.delenv("STEPWISE_LOG_SAMPLE_RATE", raising=False)
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Reads every JSON record the Powertools logger wrote so far (the logger at DEBUG meanwhile)."""
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    previous = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        logger.handlers.remove(capture)
        logger.setLevel(previous)


class Lead(BaseModel):
    lead_id: str


def _context() -> Any:
    return LocalLambdaContext(
        function_name="stepwise-test-step",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stepwise-test-step",
        timeout_seconds=3,
    )


def _event(execution: str, state: str, attempt: int = 0, lead_id: str = "L-1") -> dict[str, Any]:
    return {"payload": {"lead_id": lead_id}, "execution": execution, "state": state, "attempt": attempt}


@step_handler(Lead)
def echo(payload: Lead, ctx: StepContext) -> Lead:
    logger.debug("looking at the lead", lead_id=payload.lead_id)
    return payload


@step_handler(Lead)
def refuse(payload: Lead, ctx: StepContext) -> Lead:
    raise BusinessRuleError(f"lead {payload.lead_id} may not be contacted")


# --- the decision --------------------------------------------------------------------------------


def test_a_trace_id_hashing_below_the_rate_is_sampled_and_one_above_is_not() -> None:
    # Given one trace id whose hash falls below 10% and one whose hash falls above
    (below,) = trace_ids(sampled=True)
    (above,) = trace_ids(sampled=False)
    assert sample_position(below) < RATE <= sample_position(above)

    # Then the first run logs everything and the second does not, whatever is asked how often
    assert all(is_sampled(below, RATE) for _ in range(3))
    assert not any(is_sampled(above, RATE) for _ in range(3))
    # and the rate's ends mean "no run" and "every run"
    assert not is_sampled(below, 0.0)
    assert is_sampled(above, 1.0)


def test_about_the_rate_of_all_runs_is_sampled() -> None:
    positions = [sample_position(f"run-{n}") for n in range(20_000)]
    assert sum(p < RATE for p in positions) / len(positions) == pytest.approx(RATE, abs=0.01)
    assert all(0.0 <= p < 1.0 for p in positions)


def test_the_rate_is_a_setting_between_zero_and_one(monkeypatch: pytest.MonkeyPatch) -> None:
    settings.cache_clear()
    assert settings().log_sample_rate == 0.1
    monkeypatch.setenv("STEPWISE_LOG_SAMPLE_RATE", "1.5")
    settings.cache_clear()
    with pytest.raises(ValueError, match="log_sample_rate"):
        settings()
    settings.cache_clear()


# --- the decision applied by the step handler ----------------------------------------------------


def test_a_sampled_run_logs_every_step_with_input_and_output(logs: Logs) -> None:
    # Given a run whose trace id is sampled at the default rate
    (run,) = trace_ids(sampled=True)

    # When two of its steps run, the second one on a retry
    echo(_event(run, "ValidateLead"), _context())
    echo(_event(run, "ResearchLead", attempt=2), _context())

    # Then both wrote their debug record and their "step succeeded" record with input and output
    written = logs()
    assert [(r["message"], r["state"]) for r in written] == [
        ("looking at the lead", "ValidateLead"),
        ("step succeeded", "ValidateLead"),
        ("looking at the lead", "ResearchLead"),
        ("step succeeded", "ResearchLead"),
    ]
    assert written[1]["input"] == {"lead_id": "L-1"}
    assert written[1]["output"] == {"lead_id": "L-1"}
    assert written[3]["attempt"] == 2
    assert {r["trace_id"] for r in written} == {run}
    assert {r["log_sampled"] for r in written} == {True}


def test_an_unsampled_run_logs_only_its_warnings_in_every_step(logs: Logs) -> None:
    # Given a run whose trace id is not sampled
    (run,) = trace_ids(sampled=False)

    # When one step succeeds and a later one fails with a business rule
    echo(_event(run, "ValidateLead"), _context())
    with pytest.raises(BusinessRuleError):
        refuse(_event(run, "ResearchLead", lead_id="L-400"), _context())

    # Then only the failure was written, with the run's trace id and cause
    written = logs()
    assert [r["message"] for r in written] == ["step failed"]
    assert written[0]["level"] == "WARNING"
    assert written[0]["trace_id"] == run
    assert written[0]["error"] == "BusinessRuleError"
    assert "L-400 may not be contacted" in written[0]["cause"]


def test_runs_on_both_sides_interleaved_keep_their_own_decision(logs: Logs) -> None:
    # Given a sampled and an unsampled run whose steps alternate in one process
    (sampled,) = trace_ids(sampled=True)
    (unsampled,) = trace_ids(sampled=False)

    # When their steps interleave
    for state in ("ValidateLead", "ResearchLead", "DraftEmail"):
        echo(_event(sampled, state), _context())
        echo(_event(unsampled, state), _context())

    # Then every success record belongs to the sampled run, one per step
    written = [r for r in logs() if r["message"] == "step succeeded"]
    assert [(r["trace_id"], r["state"]) for r in written] == [
        (sampled, "ValidateLead"),
        (sampled, "ResearchLead"),
        (sampled, "DraftEmail"),
    ]


# --- large input and output ----------------------------------------------------------------------


@pytest.mark.usefixtures("moto_aws")
def test_a_large_output_is_logged_as_a_reference_to_the_audit_bucket() -> None:
    # Given an output larger than the inline limit
    big = {"notes": "x" * (INLINE_LIMIT_BYTES + 1)}

    # When it is made loggable
    logged = loggable(big, trace_id="run-7", step="draft_email", attempt=1, invocation="req-1", kind="output")

    # Then the record carries a reference, size and hash, and the object holds the whole output
    key = logs_key("run-7", "draft_email", 1, "req-1", "output")
    assert key == "logs/run-7/draft_email/1-req-1-output.json"
    assert logged["s3_ref"] == f"s3://{settings().audit_bucket}/{key}"
    stored = client("s3").get_object(Bucket=settings().audit_bucket, Key=key)["Body"].read()
    assert json.loads(stored) == big
    assert logged["bytes"] == len(stored)
    # and a small value stays inline, untouched
    assert loggable({"a": 1}, trace_id="run-7", step="s", attempt=0, invocation="r", kind="input") == {"a": 1}


@pytest.mark.usefixtures("moto_aws")
def test_a_large_output_that_cannot_be_stored_is_truncated_with_a_marker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an audit bucket that does not exist (as for a role without the grant)
    monkeypatch.setenv("STEPWISE_AUDIT_BUCKET", "no-such-bucket")
    settings.cache_clear()
    big = {"notes": "y" * (3 * INLINE_LIMIT_BYTES)}

    # When it is made loggable, the step does not fail: the record gets a marked preview
    logged = loggable(big, trace_id="run-8", step="draft_email", attempt=0, invocation="r", kind="output")
    settings.cache_clear()

    assert logged["truncated"] is True
    assert logged["ref_error"] == "NoSuchBucket"
    assert logged["bytes"] > 3 * INLINE_LIMIT_BYTES
    assert len(logged["preview"]) <= 1024
    assert "s3_ref" not in logged


def test_a_large_output_whose_upload_times_out_is_truncated_not_a_step_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given S3 timing out (botocore's HTTP errors carry no response dict)
    class TimingOut:
        def put_object(self, **_: Any) -> None:
            raise ReadTimeoutError(endpoint_url="https://s3.example")

    monkeypatch.setattr(log_payloads, "client", lambda _service: TimingOut())
    big = {"notes": "z" * (3 * INLINE_LIMIT_BYTES)}

    # When it is made loggable, the step does not fail: the record names the error
    logged = loggable(big, trace_id="run-9", step="draft_email", attempt=0, invocation="r", kind="output")

    assert logged["truncated"] is True
    assert logged["ref_error"] == "ReadTimeoutError"


class Notes(BaseModel):
    text: str


@step_handler(Lead)
def research(payload: Lead, ctx: StepContext) -> Notes:
    return Notes(text="n" * (2 * INLINE_LIMIT_BYTES))


def _log_objects() -> list[str]:
    listed = client("s3").list_objects_v2(Bucket=settings().audit_bucket, Prefix="logs/")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.usefixtures("moto_aws")
def test_a_sampled_step_with_a_large_output_logs_a_reference_and_an_unsampled_one_writes_nothing(
    logs: Logs,
) -> None:
    # Given a step whose output is twice the inline limit, in an unsampled and then a sampled run
    (unsampled,) = trace_ids(sampled=False)
    (sampled,) = trace_ids(sampled=True)
    context = _context()

    # When the unsampled run's step succeeds, nothing is logged and nothing is stored
    research(_event(unsampled, "ResearchLead"), _context())
    assert logs() == []
    assert _log_objects() == []

    # When the sampled run's step succeeds
    research(_event(sampled, "ResearchLead", attempt=1), context)

    # Then its record has the input inline and the output as a reference to the stored JSON
    (record,) = logs()
    assert record["input"] == {"lead_id": "L-1"}
    key = f"logs/{sampled}/test_log_sampling/1-{context.aws_request_id}-output.json"
    assert record["output"]["s3_ref"] == f"s3://{settings().audit_bucket}/{key}"
    assert _log_objects() == [key]
    stored = client("s3").get_object(Bucket=settings().audit_bucket, Key=key)["Body"].read()
    assert json.loads(stored) == {"text": "n" * (2 * INLINE_LIMIT_BYTES)}


# --- a real run on the local runtime -------------------------------------------------------------


def _run(runtime: LocalRuntime, payload: dict[str, Any], name: str) -> dict[str, Any]:
    arn = runtime.start("sales_outreach", payload, name=name)
    while pending := runtime.approvals_to_decide(arn):
        for record in pending:
            runtime.decide(record, Decision(decision="approve", comment="ok"))
    return runtime.wait(arn)


def test_every_record_of_a_real_run_carries_its_trace_id(
    runtime: LocalRuntime, logs: Logs, outreach: dict[str, Any]
) -> None:
    # Given one sampled and two unsampled run names (the default rate, 10%), and a model whose first
    # draft in the sampled run fails validation (the client logs a warning and re-prompts)
    assert settings().log_sample_rate == RATE
    (sampled,) = trace_ids(sampled=True, prefix="sales-outreach")
    disqualified, blocked = trace_ids(sampled=False, count=2, prefix="sales-outreach")
    offline_model().script(
        "draft_email", Malformed({"subject": "Hello", "body": "Hi [First Name], let us talk."})
    )

    # When the sampled run is approved and sent, an unsampled one disqualifies a poor-fit lead and
    # the other meets a do-not-contact lead
    assert _run(runtime, outreach, sampled)["status"] == "SUCCEEDED"
    assert _run(runtime, {**outreach, "lead_id": "L-300"}, disqualified)["status"] == "SUCCEEDED"
    assert _run(runtime, {**outreach, "lead_id": "L-400"}, blocked)["status"] == "SUCCEEDED"

    # Then every record names its run, in its trace id and its correlation id
    written = logs()
    assert all(r.get("trace_id") in {sampled, disqualified, blocked} for r in written), written
    assert all(r["correlation_id"] == r["trace_id"] for r in written)
    by_run = {run: [r for r in written if r["trace_id"] == run] for run in (sampled, disqualified, blocked)}
    # the sampled run logged each step it ran, with input and output
    steps = [r["state"] for r in by_run[sampled] if r["message"] == "step succeeded"]
    assert steps[:5] == ["ValidateLead", "ResearchLead", "DraftEmail", "MarkContacted", "RequestApproval"]
    assert steps[-2:] == ["SendEmail", "LogActivity"]
    assert all("input" in r and "output" in r for r in by_run[sampled] if r["message"] == "step succeeded")
    # the LLM client's own warning is a record of the run too, inside its step
    (reprompt,) = [r for r in by_run[sampled] if r["message"] == "LLM output failed validation, re-prompting"]
    assert (reprompt["level"], reprompt["state"], reprompt["tool_name"]) == (
        "WARNING",
        "DraftEmail",
        "draft_email",
    )
    # the unsampled runs: nothing for three successful steps, and only the warning of the blocked lead
    assert by_run[disqualified] == []
    assert [(r["message"], r["level"], r["state"]) for r in by_run[blocked]] == [
        ("step failed", "WARNING", "ValidateLead")
    ]


@pytest.fixture
def outreach() -> dict[str, Any]:
    from functions.registry import ROOT

    loaded: dict[str, Any] = json.loads(
        (ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8")
    )
    return loaded
