"""The one output format of the benchmarks: each measure, its figure, its target, the ratio the
verdict rests on, and PASS or MISS.

Run the benchmarks as scripts (``python benchmarks/bench_….py``): this file sits beside them.
"""

from __future__ import annotations

WIDTHS = (46, 14, 14, 44)


def header() -> None:
    print(f"{'measure':<{WIDTHS[0]}}{'figure':>{WIDTHS[1]}}  {'target':<{WIDTHS[2]}}"
          f"{'ratio it rests on':<{WIDTHS[3]}}verdict")


def line(measure: str, figure: str, target: str = "", ratio: str = "",
         ok: bool | None = None) -> None:
    """One measure; ``ok`` None: a figure shown for context, with no verdict."""
    verdict = "" if ok is None else "PASS" if ok else "MISS"
    print(f"{measure:<{WIDTHS[0]}}{figure:>{WIDTHS[1]}}  {target:<{WIDTHS[2]}}"
          f"{ratio:<{WIDTHS[3]}}{verdict}".rstrip())
