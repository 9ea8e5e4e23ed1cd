"""Numeric commands start fast: they import neither sympy nor numpy (checked in a fresh interpreter).

How fast is measured by benchmarks/bench_startup.py, not here; this pins the cause.
"""

import json
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


NUMERIC_COMMANDS = [
    ["flops"], ["flops", "--format", "markdown"], ["flops", "--mode", "generate", "--elementwise"],
    ["params", "--format", "json"], ["shapes", "--format", "csv"], ["presets"],
    ["compare"], ["memory"], ["sweep", "--seq-len", "128:1024:x2"],
    ["flops", "--total"], ["frameworks"], ["mfu", "--step-time", "1"],
    ["budget", "--tokens", "1000"],
]

# One fresh interpreter runs the commands in turn and says after each which of the two have
# been imported so far: an import is never undone, so the first command named with one is the
# one that imported it (one start-up instead of one per command).
PROBE_EACH = """
import json, runpy, sys
for args in json.loads(sys.argv[1]):
    sys.argv = ["flopcalc", *args]
    code = 0
    try:
        runpy.run_module("flopcalc", run_name="__main__")
    except SystemExit as e:
        code = e.code or 0
    found = [m for m in ("sympy", "numpy") if m in sys.modules]
    print("probe:", json.dumps([args, code, found]), file=sys.stderr)
"""


def test_numeric_commands_import_neither_sympy_nor_numpy():
    run = subprocess.run([sys.executable, "-c", PROBE_EACH, json.dumps(NUMERIC_COMMANDS)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    said = [json.loads(line[len("probe: "):]) for line in run.stderr.splitlines()
            if line.startswith("probe: ")]
    assert said == [[args, 0, []] for args in NUMERIC_COMMANDS], run.stderr


def test_the_formulas_command_is_the_one_that_loads_sympy():
    run = subprocess.run([sys.executable, "-c", PROBE, "formulas"], capture_output=True, text=True)
    assert run.stderr.strip().splitlines()[-1] == "sympy"


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_compiled_sweep_imports_neither_sympy_nor_numpy(tmp_path, fmt):
    from flopcalc.sweep import FAST_FROM

    points = 100 * 50          # top_k x seq_len: the compiled path (FAST_FROM points up)
    assert points >= FAST_FROM
    args = ["sweep", "--preset", "deepseek-v3", "--top-k", "1:100:+1", "--seq-len", "1:50:+1",
            "--capacity-factor", "5/4", "-f", fmt]
    if fmt != "table":
        args += ["-o", str(tmp_path / f"sweep.{fmt}")]
    run = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1:] in ([], [""])
    if fmt != "table":
        assert (tmp_path / f"sweep.{fmt}").read_text(encoding="utf-8").count("\n") > points
