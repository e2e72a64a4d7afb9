"""Warm overhead of ``step_handler``: Powertools Logger/Metrics/Tracer + pydantic parsing per call.

A probe step with the sales-outreach research payload (a CRM lead, the offer, the campaign) and a
domain function that does nothing but build its small result is timed two ways in-process, many
times: called directly with the already parsed payload, and through the decorated Lambda handler
with the raw Step Functions envelope. The difference is what every warm invocation pays for the
envelope. Logs and EMF metrics are really written (to /dev/null, as Lambda writes to a pipe); the
tracer is disabled, since sending X-Ray segments needs the Lambda daemon.
"""

from __future__ import annotations

import contextlib
import os
import sys
import timeit
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from bench.report import Measurement

MAX_OVERHEAD_MS = 0.5
PROBE_MODULE = "functions.sales_outreach.overhead_probe"  # step_handler names the step after its module

EVENT: dict[str, Any] = {
    "payload": {
        "lead": {
            "contact_id": "L-100",
            "name": "Dana Whitfield",
            "email": "dana@northwind-freight.example",
            "company": "Northwind Freight",
            "title": "VP Finance",
            "industry": "logistics",
            "company_size": 420,
            "status": "new",
            "notes_key": "notes/L-100.txt",
        },
        "offer": "Automated matching of carrier invoices to shipments.",
        "campaign": "Q1 finance automation",
        "extra_state_the_step_ignores": {"validated": True, "checked_at": "2026-11-25T10:00:00Z"},
    },
    "execution": "sales-outreach-bench-0001",
    "state": "ResearchLead",
    "attempt": 0,
}


class ProbeResult(BaseModel):
    contact_id: str
    fit: str


@dataclass(frozen=True)
class LambdaContextStub:
    """The attributes Powertools reads from the Lambda context object."""

    function_name: str = "stepwise-bench-probe"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stepwise-bench-probe"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/stepwise-bench-probe"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@contextlib.contextmanager
def _lambda_like_env() -> Iterator[None]:
    wanted = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "false"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    # File-descriptor level: the Logger's handler holds the original sys.stdout object.
    sys.stdout.flush()
    saved_fd = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        os.close(sink)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _per_call_ms(call: Any, number: int, repeat: int) -> float:
    """The fastest of ``repeat`` means over ``number`` calls (the least disturbed by other load)."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1000


def measure(number: int = 2000, repeat: int = 5) -> list[Measurement]:
    from functions.sales_outreach.research_lead import ResearchInput
    from functions.shared.step_handler import StepContext, step_handler

    def probe(payload: ResearchInput, ctx: StepContext) -> ProbeResult:
        return ProbeResult(contact_id=payload.lead.contact_id, fit="good")

    probe.__module__ = PROBE_MODULE
    handler = step_handler(ResearchInput)(probe)
    context = cast(LambdaContext, LambdaContextStub())  # duck-typed: the attributes Powertools reads
    parsed = ResearchInput.model_validate(EVENT["payload"])
    ctx = StepContext(
        workflow="sales_outreach", step="overhead_probe", state="ResearchLead", execution="bench", attempt=0
    )
    with _lambda_like_env():
        handler(EVENT, context)  # first call: Powertools' lazy setup is cold start, not warm overhead
        direct_ms = _per_call_ms(lambda: probe(parsed, ctx), number, repeat)
        wrapped_ms = _per_call_ms(lambda: handler(EVENT, context), number, repeat)
    overhead = wrapped_ms - direct_ms
    return [
        Measurement(
            "warm overhead",
            "step_handler envelope per invocation (Powertools + pydantic)",
            overhead,
            "ms",
            target=MAX_OVERHEAD_MS,
            note=f"handler {wrapped_ms:.3f} ms - direct {direct_ms:.4f} ms; best of {repeat} x {number}"
            f" calls; python {sys.version_info.major}.{sys.version_info.minor}",
        )
    ]
