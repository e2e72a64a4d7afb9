"""One table for every measurement: value, target, ratio, PASS/MISS; and the doc that keeps it.

Benchmarks never assert: a noisy machine changes a number, not the exit code. A missed target is a
row that says MISS and a note that says why.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Comparison = Literal["<=", ">="]


@dataclass(frozen=True)
class Measurement:
    """One measured number, with the target it is held to (``target=None``: reported only)."""

    section: str
    name: str
    value: float
    unit: str
    target: float | None = None
    comparison: Comparison = "<="
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / target: below 1 is better for ``<=`` targets, above 1 for ``>=`` targets."""
        if self.target is None or self.target == 0:
            return None
        return self.value / self.target

    @property
    def status(self) -> str:
        if self.target is None:
            return "INFO"
        met = self.value <= self.target if self.comparison == "<=" else self.value >= self.target
        return "PASS" if met else "MISS"


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if abs(value) >= 0.001:
        return f"{value:.4f}"
    return f"{value:.2e}"


def _row(m: Measurement) -> list[str]:
    target = "" if m.target is None else f"{m.comparison} {_number(m.target)}"
    ratio = "" if m.ratio is None else f"{m.ratio:.2f}"
    return [m.section, m.name, f"{_number(m.value)} {m.unit}".strip(), target, ratio, m.status, m.note]


HEADERS = ["area", "measurement", "value", "target", "ratio", "status", "note"]


def render_text(measurements: list[Measurement]) -> str:
    """A fixed-width table for the terminal."""
    rows = [HEADERS, *(_row(m) for m in measurements)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS) - 1)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  ----")
    return "\n".join(lines)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def render_markdown(measurements: list[Measurement]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_escape(cell) for cell in _row(m)) + " |" for m in measurements]
    return "\n".join(lines)


def summary(measurements: list[Measurement]) -> str:
    counted = [m.status for m in measurements]
    return f"{counted.count('PASS')} PASS, {counted.count('MISS')} MISS, {counted.count('INFO')} INFO"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.machine()


def machine() -> str:
    """CPU, cores, Python and how busy the machine was (it is shared: timings move with its load)."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{_cpu_model()} ({platform.machine()}), {os.cpu_count()} cores{load}, "
        f"{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({sys.implementation.name})"
    )


BEGIN = "<!-- bench:begin (rewritten by `make bench`; edit outside these markers) -->"
END = "<!-- bench:end -->"


def write_doc(
    path: Path, measurements: list[Measurement], *, appendix: str = "", when: datetime | None = None
) -> None:
    """Rewrite the measured block of ``path`` (date, machine, table); the prose around it is kept."""
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            BEGIN,
            f"Measured {stamp} on {machine()} with `make bench` ({summary(measurements)}).",
            "",
            render_markdown(measurements),
            *(["", appendix] if appendix else []),
            END,
        ]
    )
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = f"# Performance\n\n{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
