"""Cold start of `flopcalc flops` against `python -c "import sympy"`, side by side in one run.

Target: the numeric command takes at most half the time of importing sympy alone (it must
import neither sympy nor numpy). The machine is shared and noisy, so the runs are
interleaved and the medians compared as a ratio.

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from report import header, line

TARGET_RATIO = 0.5


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("flopcalc")
    flopcalc = [exe] if exe else [sys.executable, "-m", "flopcalc"]
    commands = {"flopcalc flops": flopcalc + ["flops"],
                "import sympy": [sys.executable, "-c", "import sympy"]}
    # no heavy modules on the numeric path: checked by the interpreter itself
    probe = ("import sys, runpy; sys.argv=['flopcalc','flops']\n"
             "try:\n runpy.run_module('flopcalc', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print(sorted(m for m in ('sympy','numpy') if m in sys.modules), file=sys.stderr)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stderr
    for cmd in commands.values():  # warm the OS file cache; both are measured cold-interpreter
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["flopcalc flops"] / med["import sympy"]
    heavy = loaded.strip().splitlines()[-1]
    header()
    for name in commands:
        line(f"{name}, median wall s", f"{med[name]:.3f}", "", f"min {min(times[name]):.3f} s, "
             f"{args.runs} runs interleaved")
    line("flopcalc flops over import sympy", f"{ratio:.2f}x", f"<= {TARGET_RATIO:.2f}x",
         f"{med['flopcalc flops']:.3f} s over {med['import sympy']:.3f} s", ratio <= TARGET_RATIO)
    line("heavy modules 'flopcalc flops' imports", heavy, "[]", "sympy, numpy looked for",
         heavy == "[]")

if __name__ == "__main__":
    main()
