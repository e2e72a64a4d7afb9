"""no_show at growing day sizes: what must stay flat in N (issue #20, item 5).

Each size runs the real ASL (three Distributed Maps and the digest approval) on a fresh local
runtime, on a day seeded like the scale test (``tests/workflows/test_no_show_scale.py``: 40% of
the bookings with notes, about 20% high risk), with the manager approving the one digest. Read
from each run: the parent execution's history events and its largest state payload (from the
history itself), the output's size, the Claude calls, their cost per appointment (usage as the
offline model reported it, at list prices), and the wall time.

Claude's latency is simulated (``CLAUDE_LATENCY_S`` per call, on each invocation's clock: nothing
sleeps), and the scoring Map's wall time on AWS is *modelled* from it: each ScoreBatch
invocation's simulated seconds, scheduled in start order on the Map's ``MaxConcurrency`` (read from
the ASL) — what a Distributed Map does with its children. That is the number that must stay about
linear in N / concurrency. The local wall time is reported too, not held to a target: moto's
emulated AWS calls, not Lambda, dominate it. The sizes can be changed with
``STEPWISE_BENCH_NO_SHOW_SIZES`` (comma-separated).
"""

from __future__ import annotations

import heapq
import json
import os
import time

from bench.happy_paths import OFFLINE, approve
from bench.report import Measurement
from functions.registry import WORKFLOWS
from functions.shared.llm.offline import offline_model
from functions.shared.llm.pricing import DEFAULT_PRICES, Usage
from local.runtime import LocalRuntime
from tests.workflows.test_no_show_scale import DAY, MANAGER, OWNER, largest_payload, seed_day

SECTION = "no_show scale"
SIZES_ENV = "STEPWISE_BENCH_NO_SHOW_SIZES"
DEFAULT_SIZES = (100, 1000, 10000)
#: Simulated seconds per Claude call (a Sonnet answer of ~150 output tokens).
CLAUDE_LATENCY_S = 3.0
MAX_PARENT_EVENTS = 200
MAX_PAYLOAD_KIB = 64.0


def sizes() -> tuple[int, ...]:
    given = os.environ.get(SIZES_ENV, "")
    return tuple(int(n) for n in given.split(",") if n.strip()) or DEFAULT_SIZES


def map_concurrency(state: str) -> int:
    definition = json.loads(WORKFLOWS["no_show"].asl_path.read_text(encoding="utf-8"))
    return int(definition["States"][state]["MaxConcurrency"])


def modelled_map_seconds(durations: list[float], concurrency: int) -> float:
    """Wall time of children of ``durations`` seconds, started in order, ``concurrency`` at a time."""
    running = [0.0] * min(concurrency, len(durations))
    heapq.heapify(running)
    for seconds in durations:
        heapq.heappush(running, heapq.heappop(running) + seconds)
    return max(running, default=0.0)


def run_day(n: int) -> list[Measurement]:
    os.environ.update(OFFLINE)
    billed_before = len(offline_model().billed)
    with LocalRuntime() as runtime:
        runtime.simulate_llm_latency(seconds=CLAUDE_LATENCY_S)
        seed_day(n, max(1, min(1000, n // 10)))
        started = time.perf_counter()
        arn = runtime.start("no_show", {"day": DAY, "owner": OWNER, "manager_email": MANAGER})
        for record in runtime.approvals_to_decide(arn, timeout_s=3600):
            runtime.decide(record, approve(record))
        runtime.wait(arn, timeout_s=3600)
        wall = time.perf_counter() - started
        result = runtime.result(arn)
        history = runtime.history(arn)
        scoring = [i.simulated_s for i in runtime.dispatcher.invocations if i.step == "score_batch"]
        runtime.simulate_llm_latency(seconds=0.0)  # the offline model outlives the runtime
    if result.status != "SUCCEEDED" or result.output is None:
        raise RuntimeError(f"no_show at N={n} ended {result.status}: {result.error} {result.cause}")
    calls = offline_model().billed[billed_before:]
    cost = sum(
        DEFAULT_PRICES.price(c.model).cost(
            Usage.model_validate({k: c.usage[k] for k in Usage.model_fields if k in c.usage})
        )
        for c in calls
    )
    label, payload_kib = f"N={n:,}", largest_payload(history) / 1024
    return [
        Measurement(SECTION, f"{label}: parent history events", len(history), "events", MAX_PARENT_EVENTS),
        Measurement(
            SECTION,
            f"{label}: largest state payload",
            payload_kib,
            "KiB",
            MAX_PAYLOAD_KIB,
        ),
        Measurement(SECTION, f"{label}: execution output", len(json.dumps(result.output)), "bytes"),
        Measurement(SECTION, f"{label}: Claude calls", len(calls), "calls"),
        Measurement(SECTION, f"{label}: Claude cost per appointment", cost / n * 100, "US cents"),
        Measurement(
            SECTION,
            f"{label}: scoring wall time on AWS (modelled, {CLAUDE_LATENCY_S:g} s a Claude call)",
            modelled_map_seconds(scoring, map_concurrency("ScoreBatches")),
            "s",
        ),
        Measurement(SECTION, f"{label}: scoring batches (children)", len(scoring), "children"),
        Measurement(SECTION, f"{label}: wall time (local, moto)", wall, "s"),
    ]


def measure() -> list[Measurement]:
    rows: list[Measurement] = []
    for n in sizes():
        rows += run_day(n)
    return rows
