"""Benchmark harness: measure, print, and keep the figures in docs/benchmarks.md.

Each suite owns one section of docs/benchmarks.md (between marker comments), so running one suite
rewrites only its own figures. Every figure is printed beside the baseline measured in the same run.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Figures written by the benchmark suites in `bench/` (each suite rewrites its own section).
Targets are checked here, never in unit tests. Every figure is measured beside a baseline in the
same run on the same machine.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    def row(self) -> str:
        status = {True: "met", False: "**missed**", None: ""}[self.met]
        value = f"{self.value:,.0f}" if self.value >= 100 else f"{self.value:,.2f}"
        return (
            f"| {self.name} | {value} {self.unit} | {self.baseline} | {self.target} | "
            f"{status} | {self.note} |"
        )


@dataclass
class Suite:
    name: str
    description: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: {figure.value:,.2f} {figure.unit}  {figure.baseline}", flush=True)
        return figure

    def render(self) -> str:
        lines = [
            f"## {self.name}",
            "",
            self.description,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
            f"peak RSS of the benchmark process {peak_rss_mib():.0f} MiB.",
            "",
            "| measure | value | baseline (same run) | target | | note |",
            "|---|---|---|---|---|---|",
            *(f.row() for f in self.figures),
        ]
        return "\n".join(lines) + "\n"

    def write(self, doc: Path = DOC) -> None:
        start, end = f"<!-- suite:{self.name} -->", f"<!-- /suite:{self.name} -->"
        text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
        block = f"{start}\n{self.render()}{end}"
        if start in text and end in text:
            before, rest = text.split(start, 1)
            _, after = rest.split(end, 1)
            text = before + block + after
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text, encoding="utf-8")


def timed(fn: Callable[[], object], repeat: int = 5) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def percentile(samples: Sequence[float], p: float) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(p) - 1]
