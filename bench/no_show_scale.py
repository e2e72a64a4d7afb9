"""no_show at growing day sizes: what must stay flat in N (issue #20, item 5).

Each size runs the real ASL (three Distributed Maps and the digest approval) on a fresh local
runtime, on a day seeded like the scale test (``tests/workflows/test_no_show_scale.py``: 40% of
the bookings with notes, about 20% high risk), with the manager approving the one digest. Read
from each run: the parent execution's history events and its largest state payload (from the
history itself), the output's size, the Claude calls, their cost per appointment (usage as the
offline model reported it, at list prices), and the wall time. The offline model answers at once
(no simulated Claude latency yet: the local runtime's latency API is another part of #20), and
moto's index queries read the whole table, so local wall time grows faster than AWS's would; it is
reported, not held to a target. The 10,000 row is opt-in (``STEPWISE_BENCH_NO_SHOW_SIZES``): it
takes about 8 minutes on the 2-core host.
"""

from __future__ import annotations

import json
import os
import time

from bench.happy_paths import OFFLINE, approve
from bench.report import Measurement
from functions.shared.llm.offline import offline_model
from functions.shared.llm.pricing import DEFAULT_PRICES, Usage
from local.runtime import LocalRuntime
from tests.workflows.test_no_show_scale import DAY, MANAGER, OWNER, largest_payload, seed_day

SECTION = "no_show scale"
SIZES_ENV = "STEPWISE_BENCH_NO_SHOW_SIZES"
DEFAULT_SIZES = (100, 1000)
MAX_PARENT_EVENTS = 200
MAX_PAYLOAD_KIB = 64.0


def sizes() -> tuple[int, ...]:
    given = os.environ.get(SIZES_ENV, "")
    return tuple(int(n) for n in given.split(",") if n.strip()) or DEFAULT_SIZES


def run_day(n: int) -> list[Measurement]:
    os.environ.update(OFFLINE)
    billed_before = len(offline_model().billed)
    with LocalRuntime() as runtime:
        seed_day(n, max(1, min(1000, n // 10)))
        started = time.perf_counter()
        arn = runtime.start("no_show", {"day": DAY, "owner": OWNER, "manager_email": MANAGER})
        for record in runtime.approvals_to_decide(arn, timeout_s=3600):
            runtime.decide(record, approve(record))
        runtime.wait(arn, timeout_s=3600)
        wall = time.perf_counter() - started
        result = runtime.result(arn)
        history = runtime.history(arn)
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
        Measurement(SECTION, f"{label}: wall time (local, no simulated latency)", wall, "s"),
    ]


def measure() -> list[Measurement]:
    rows: list[Measurement] = []
    for n in sizes():
        rows += run_day(n)
    return rows
