"""``python -m bench``: measure everything, print one table, optionally rewrite docs/performance.md.

It never fails on a number: a missed target is a MISS row (exit code 0). It fails only when a
measurement cannot be taken at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import (
    artifacts,
    cold_start,
    crm_scaling,
    harness,
    llm_cost,
    no_show_scale,
    transitions,
    warm_overhead,
)
from bench.happy_paths import run_all
from bench.report import Measurement, render_text, summary, write_doc

SECTIONS = (
    "artifacts",
    "cold_start",
    "transitions",
    "llm_cost",
    "harness",
    "warm_overhead",
    "crm_scaling",
    "no_show_scale",
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--write", type=Path, help="rewrite the measured block of this doc (docs/performance.md)"
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--repeats", type=int, default=5, help="cold-start samples per step (median)")
    parser.add_argument("--executions", type=int, default=10, help="harness executions per flow")
    parser.add_argument("--suite", action="store_true", help="also run the whole test suite (pytest -n 2)")
    parser.add_argument(
        "--suite-seconds", type=float, help=f"the last suite wall time (or ${harness.SUITE_SECONDS_ENV})"
    )
    return parser.parse_args(argv)


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    os.environ.pop("ANTHROPIC_API_KEY", None)  # measured against the offline model, never the API
    rows: list[Measurement] = []
    appendix = ""
    if "artifacts" in only:
        _progress("artifacts: building the layers (cached in cdk.out/bench-layers)")
        rows += artifacts.measure()
    if "cold_start" in only:
        _progress(f"cold start: every step module x {args.repeats}, next to import boto3 (a few minutes)")
        cold_rows, steps = cold_start.measure(args.repeats)
        rows += cold_rows
        appendix = (
            "Cold start of every step (median, Lambda-like environment):\n\n"
            + cold_start.details_markdown(steps)
        )
    if only & {"transitions", "llm_cost"}:
        _progress("transitions and LLM cost: every workflow's happy path, twice")
        runs = run_all()
        if "transitions" in only:
            rows += transitions.measure(runs)
        if "llm_cost" in only:
            rows += llm_cost.measure(runs)[0]
    if "harness" in only:
        suite = " and the test suite" if args.suite else ""
        _progress(f"harness: {args.executions} executions per flow{suite}")
        rows += harness.measure(args.executions, run_suite=args.suite, given_suite_s=args.suite_seconds)
    if "warm_overhead" in only:
        _progress("warm overhead: step_handler vs a direct call")
        rows += warm_overhead.measure()
    if "crm_scaling" in only:
        _progress(
            f"CRM scaling: referral on the seed CRM and with {crm_scaling.EXTRA_CONTACTS:,} more contacts"
        )
        rows += crm_scaling.measure()
    if "no_show_scale" in only:
        _progress(f"no_show scale: a day of N appointments, N in {no_show_scale.sizes()} (a minute or more)")
        rows += no_show_scale.measure()
    print(render_text(rows))
    print(summary(rows))
    if args.write is not None:
        write_doc(args.write, rows, appendix=appendix)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
