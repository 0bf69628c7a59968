"""Run every benchmarks/bench_*.py module, print a table and append it to benchmarks/RESULTS.md.

Usage: python -m benchmarks.run [name-substring ...]
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
import traceback
from pathlib import Path

import psutil

from benchmarks.harness import Figure

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_line() -> str:
    memory_gib = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def format_value(figure: Figure) -> str:
    return f"{figure.value:,.3f}".rstrip("0").rstrip(".") + f" {figure.unit}"


def table(rows: list[tuple[str, Figure]]) -> str:
    lines = ["| benchmark | figure | value | target | met | note |", "|---|---|---|---|---|---|"]
    for module, figure in rows:
        met = {True: "yes", False: "NO", None: "-"}[figure.met]
        lines.append(
            f"| {module} | {figure.name} | {format_value(figure)} | {figure.target} | {met} | {figure.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    selected = argv[1:]
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m for s in selected)]
    rows: list[tuple[str, Figure]] = []
    failures = 0
    for name in modules:
        print(f"== {name}", flush=True)
        try:
            figures = importlib.import_module(f"benchmarks.{name}").run()
        except Exception:
            traceback.print_exc()
            failures += 1
            continue
        rows.extend((name.removeprefix("bench_"), figure) for figure in figures)
    report = table(rows)
    print(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a") as out:
        out.write(f"\n## {stamp} — {machine_line()}\n\n{report}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
