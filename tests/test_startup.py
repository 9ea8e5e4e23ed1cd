"""Numeric commands start fast: they import neither sympy nor numpy (checked in a fresh interpreter).

How fast is measured by benchmarks/bench_startup.py, not here; this pins the cause.
"""

import subprocess
import sys

import pytest

PROBE = """
import runpy, sys
sys.argv = ["flopcalc", *sys.argv[1:]]
try:
    runpy.run_module("flopcalc", run_name="__main__")
except SystemExit:
    pass
print(",".join(m for m in ("sympy", "numpy") if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [
    ["flops"], ["flops", "--format", "markdown"], ["flops", "--mode", "generate", "--elementwise"],
    ["params", "--format", "json"], ["shapes", "--format", "csv"], ["presets"],
    ["compare"], ["memory"], ["sweep", "--seq-len", "128:1024:x2"],
    ["flops", "--total"], ["frameworks"], ["mfu", "--step-time", "1"],
    ["budget", "--tokens", "1000"],
])
def test_numeric_commands_import_neither_sympy_nor_numpy(args):
    run = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1:] in ([], [""])


def test_the_formulas_command_is_the_one_that_loads_sympy():
    run = subprocess.run([sys.executable, "-c", PROBE, "formulas"], capture_output=True, text=True)
    assert run.stderr.strip().splitlines()[-1] == "sympy"
