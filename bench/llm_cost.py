"""LLM tokens and dollars per run, with and without the prompt cache.

Read from the happy-path runs: usage exactly as each response reported it. The offline model bills
a ``cache_control`` prefix like the API: the first call writes it at 1.25x the input price, calls
within five minutes read it at 0.1x. The uncached cost prices the same tokens as if nothing were
cached; the warm run is the second run of the same workflow.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.happy_paths import Run
from bench.report import Measurement
from functions.shared.llm.offline import min_cacheable_tokens
from functions.shared.llm.pricing import DEFAULT_PRICES, Usage

MAX_CACHED_TO_UNCACHED = 0.55
MIN_PREFIX_READ_SHARE = 0.90


@dataclass(frozen=True)
class RunCost:
    workflow: str
    index: int
    calls: int
    usage: Usage
    cost_usd: float
    uncached_usd: float  # the same tokens, none of them cached
    prefix_tokens: int  # static prefix (tools + system) sent, over every exchange
    #: The smallest prefix one call sent, over the minimum its model caches from (< 1: not cached).
    prefix_margin: float

    @property
    def ratio(self) -> float:
        return self.cost_usd / self.uncached_usd if self.uncached_usd else 0.0

    @property
    def read_share(self) -> float:
        return self.usage.cache_read_input_tokens / self.prefix_tokens if self.prefix_tokens else 0.0


def cost_of(run: Run) -> RunCost:
    usage = Usage.zero()
    cost = uncached = 0.0
    prefix = 0
    for call in run.llm_calls:
        call_usage = Usage.model_validate(
            {key: call.usage[key] for key in Usage.model_fields if key in call.usage}
        )
        price = DEFAULT_PRICES.price(call.model)
        usage = usage + call_usage
        cost += price.cost(call_usage)
        all_input = (
            call_usage.input_tokens
            + call_usage.cache_creation_input_tokens
            + call_usage.cache_read_input_tokens
        )
        uncached += price.cost(Usage(input_tokens=all_input, output_tokens=call_usage.output_tokens))
        prefix += call.prefix_tokens
    margin = min((c.prefix_tokens / min_cacheable_tokens(c.model) for c in run.llm_calls), default=0.0)
    return RunCost(run.workflow, run.index, len(run.llm_calls), usage, cost, uncached, prefix, margin)


def measure(runs: list[Run]) -> tuple[list[Measurement], list[RunCost]]:
    costs = [cost_of(run) for run in runs]
    rows = []
    for warm in (c for c in costs if c.index == 1):
        cold = next(c for c in costs if c.workflow == warm.workflow and c.index == 0)
        u = warm.usage
        tokens = (
            f"{warm.calls} calls; in {u.input_tokens}, out {u.output_tokens}, "
            f"cache write {u.cache_creation_input_tokens}, read {u.cache_read_input_tokens}"
        )
        rows += [
            Measurement(
                "LLM cost",
                f"{warm.workflow}: $ per run (uncached / first run / warm cache)",
                warm.cost_usd,
                "USD",
                note=f"${warm.uncached_usd:.5f} / ${cold.cost_usd:.5f} / ${warm.cost_usd:.5f}; {tokens}",
            ),
            Measurement(
                "LLM cost",
                f"{warm.workflow}: warm-cache cost / uncached cost",
                warm.ratio,
                "x",
                target=MAX_CACHED_TO_UNCACHED,
            ),
            Measurement(
                "LLM cost",
                f"{warm.workflow}: static-prefix tokens read from cache (repeat run)",
                warm.read_share * 100,
                "%",
                target=MIN_PREFIX_READ_SHARE * 100,
                comparison=">=",
                note=(
                    f"{u.cache_read_input_tokens} of {warm.prefix_tokens} prefix tokens; each call's prefix "
                    f"is {warm.prefix_margin:.2f}x its model's caching minimum"
                ),
            ),
        ]
    return rows, costs
