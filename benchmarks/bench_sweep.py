"""100,000-config sweep through the CLI's code path, against the 2 s target, in one run.

Measures:
  1. the whole command, as a user runs it (a fresh interpreter, sympy import and compile
     included), `flopcalc sweep` over a 100 x 1000 grid written as CSV to a file, and the
     same with the default --format table to stdout (a 200-column terminal, read from a
     file: the plain layout of large tables); target < 2 s each;
  2. in one process, the sweep itself (`sweep.run`, what the command calls) on the compiled
     path and on the per-config `flop_report` path (on a 5,000-point slice of the same grid:
     the whole grid would take ~10 s), as configs/s and their ratio.

The machine is shared and noisy: each measure is the best of --runs (noise only ever adds
time); the ratio is what to compare between machines.

    python benchmarks/bench_sweep.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

TARGET_SECONDS = 2.0
GRID = ["--d-model", "64:6400:+64", "--seq-len", "1:1000:+1", "--heads", "1",
        "--n-positions", "1000"]          # 100 x 1000 = 100,000 configs
POINTS = 100 * 1000


def cli_seconds(out: str, table: bool = False) -> float:
    """The whole command: CSV to ``out``, or (``table``) the default table on stdout to it."""
    exe = shutil.which("flopcalc")
    cmd = ([exe] if exe else [sys.executable, "-m", "flopcalc"]) + ["sweep", *GRID]
    if not table:
        cmd += ["--format", "csv", "--output", out]
    env = {**os.environ, "COLUMNS": "200"}
    with open(out if table else os.devnull, "w", encoding="utf-8") as stdout:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - start


def verdict(seconds: float) -> str:
    return f"target < {TARGET_SECONDS:.0f} s: {'PASS' if seconds < TARGET_SECONDS else 'MISS'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sweep.csv")
        cli = min(cli_seconds(out) for _ in range(args.runs))
        with open(out, encoding="utf-8") as f:
            rows = sum(1 for line in f if line[:1].isdigit())
        assert rows == POINTS, rows
        table = min(cli_seconds(out, table=True) for _ in range(args.runs))
        with open(out, encoding="utf-8") as f:
            rows = sum(1 for line in f if line.lstrip()[:1].isdigit())
        assert rows == POINTS, rows

    from flopcalc.config import Conventions, Mode
    from flopcalc.sweep import parse_axis, run

    base = {"n_heads": 1, "n_positions": 1000}
    grid = [parse_axis("d_model", "64:6400:+64"), parse_axis("seq_len", "1:1000:+1")]
    slice_ = [parse_axis("d_model", "64:320:+64"), parse_axis("seq_len", "1:1000:+1")]
    run(base, slice_[:1], Conventions(), Mode(), fast=True)   # sympy imported and warm
    fast = slow = float("inf")
    for _ in range(args.runs):
        start = time.perf_counter()
        run(base, grid, Conventions(), Mode(), fast=True)
        fast = min(fast, time.perf_counter() - start)
        start = time.perf_counter()
        run(base, slice_, Conventions(), Mode(), fast=False)
        slow = min(slow, time.perf_counter() - start)
    fast_rate, slow_rate = POINTS / fast, 5000 / slow

    print(f"{'measure':<72}{'time':>9}{'configs/s':>12}")
    print(f"{'flopcalc sweep, 100,000 configs to CSV (whole command)':<72}{cli:>8.2f}s"
          f"{POINTS / cli:>12,.0f}   {verdict(cli)}")
    print(f"{'flopcalc sweep, 100,000 configs, the default table (whole command)':<72}"
          f"{table:>8.2f}s"
          f"{POINTS / table:>12,.0f}   {verdict(table)}")
    print(f"{'sweep.run, compiled path, 100,000 configs':<72}{fast:>8.2f}s{fast_rate:>12,.0f}")
    print(f"{'sweep.run, flop_report per config, 5,000 configs':<72}{slow:>8.2f}s"
          f"{slow_rate:>12,.0f}")
    print(f"compiled / per-config flop_report: {fast_rate / slow_rate:.1f}x the configs per second")


if __name__ == "__main__":
    main()
