"""Cold start of `flopcalc flops` and `flopcalc --version` against their floor, and of
`flopcalc flops` against `python -c "import sympy"`, side by side in one run.

Targets:
- the floor is a minimal typer + rich script that prints the same default table (its cells
  written into it as text, so it computes nothing): `flopcalc flops` and `flopcalc --version`
  take at most 1.1x its time;
- `flopcalc flops` takes at most half the time of importing sympy alone (it must import
  neither sympy nor numpy).

The machine is shared and noisy, so the runs are interleaved and the medians compared as
ratios; the CPU time of each process is shown beside its wall time, and the load average
before and after. Where valgrind is installed, the instructions each process runs are
counted too (callgrind, one run each): unlike times, the same on a busy machine, so they are
printed beside the floor's as the ratio the time verdict rests on, not as a verdict of their
own (the target is one of times). Bytecode
is written as a pip install does (PYTHONDONTWRITEBYTECODE is dropped for the runs):
otherwise flopcalc's modules would be compiled on every run and the installed typer and
rich would not.

    python benchmarks/bench_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import header, line

TARGET_FLOOR = 1.1
TARGET_SYMPY = 0.5

FLOOR = '''"""The floor of `flopcalc flops`: typer and rich printing its default table, as text."""
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer()
TITLE, CAPTION = {title!r}, {caption!r}
COLUMNS = {columns!r}  # (header, right-aligned, width)
ROWS = {rows!r}
TOTALS = {totals!r}


@app.callback()
def main() -> None:
    """A group, as flopcalc is."""


@app.command()
def flops(seq_len: int = 128) -> None:
    """The default table."""
    table = Table(title=TITLE, caption=CAPTION, caption_justify="left")
    for name, numeric, width in COLUMNS:
        table.add_column(name, justify="right" if numeric else "left", no_wrap=numeric,
                         overflow="fold", width=width)
    for row in ROWS:
        table.add_row(*row)
    table.add_section()
    for row in TOTALS:
        table.add_row(*row, style="bold")
    Console().print(table)


app()
'''


def floor_script(width: int) -> str:
    """The floor's source: the cells, columns and notes of flopcalc's default table at
    ``width`` columns, laid out by flopcalc's own ``render.fit``, as literals."""
    from flopcalc import render
    from flopcalc.analysis import flop_report
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import make_architecture
    from flopcalc.config import Conventions, Mode
    from flopcalc.tables import flop_table

    table = flop_table(flop_report(make_architecture(None, None, None), Conventions(),
                                   Mode("forward"), Workload(1, 128)))
    layout = render.fit(table, width)
    return FLOOR.format(
        title=table.title, caption="\n".join(table.notes + layout.notes),
        columns=[(table.columns[i], table.align[i] == "r", layout.widths.get(i))
                 for i in layout.keep],
        rows=[[render.cell_text(r[i]) for i in layout.keep] for r in table.rows],
        totals=[[render.cell_text(r[i]) for i in layout.keep] for r in table.totals])


def run(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) of one run of ``cmd``."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(cmd: list[str], env: dict) -> int | None:
    """Instructions one run of ``cmd`` executes, counted by valgrind's callgrind; None
    without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counted = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              *cmd], capture_output=True, text=True, env=env)
    found = re.search(r"Collected : (\d+)", counted.stderr)
    if counted.returncode != 0 or found is None:
        raise SystemExit(f"valgrind {' '.join(cmd)} failed")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    exe = shutil.which("flopcalc")
    flopcalc = [exe] if exe else [sys.executable, "-m", "flopcalc"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "80"  # the table both print (rich reads COLUMNS when not on a terminal)
    folder = Path(tempfile.mkdtemp(prefix="flopcalc-floor-"))
    floor = folder / "floor.py"
    floor.write_text(floor_script(80))
    commands = {"flopcalc flops": flopcalc + ["flops"],
                "flopcalc --version": flopcalc + ["--version"],
                "floor (typer + rich table)": [sys.executable, str(floor), "flops"],
                "import sympy": [sys.executable, "-c", "import sympy"]}
    same = (subprocess.run(commands["flopcalc flops"], capture_output=True, text=True, env=env).stdout
            == subprocess.run(commands["floor (typer + rich table)"], capture_output=True,
                              text=True, env=env).stdout)
    # no heavy modules on the numeric path: checked by the interpreter itself
    probe = ("import sys, runpy; sys.argv=['flopcalc','flops']\n"
             "try:\n runpy.run_module('flopcalc', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print(sorted(m for m in ('sympy','numpy') if m in sys.modules), file=sys.stderr)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stderr
    load_before = os.getloadavg()
    for cmd in commands.values():  # bytecode written and the OS file cache warm
        run(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(run(cmd, env))
    load_after = os.getloadavg()
    counts = {name: instructions(commands[name], env)
              for name in ("flopcalc flops", "flopcalc --version", "floor (typer + rich table)")}
    shutil.rmtree(folder)
    wall = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}
    header()
    line("load average (1 min) before / after", f"{load_before[0]:.2f}", "", f"after "
         f"{load_after[0]:.2f}; {os.cpu_count()} CPUs")
    for name in commands:
        line(f"{name}, median wall s", f"{wall[name]:.3f}", "",
             f"CPU {cpu[name]:.3f} s; min wall {min(w for w, _ in times[name]):.3f} s, "
             f"{args.runs} runs interleaved")
    floor_name = "floor (typer + rich table)"
    line("floor prints what flopcalc flops prints", "yes" if same else "no", "the same table",
         "stdout compared", same)
    for name in ("flopcalc flops", "flopcalc --version"):
        ratio = wall[name] / wall[floor_name]
        line(f"{name} over the floor", f"{ratio:.2f}x", f"<= {TARGET_FLOOR:.2f}x",
             f"{wall[name]:.3f} s over {wall[floor_name]:.3f} s (CPU "
             f"{cpu[name] / cpu[floor_name]:.2f}x)", ratio <= TARGET_FLOOR)
    for name in ("flopcalc flops", "flopcalc --version"):
        if counts[name] is not None:
            ratio = counts[name] / counts[floor_name]
            line(f"  {name} over the floor, instructions", f"{ratio:.2f}x", "",
                 f"{counts[name] / 1e6:.1f}M over {counts[floor_name] / 1e6:.1f}M "
                 f"(callgrind; steadier than times)")
    ratio = wall["flopcalc flops"] / wall["import sympy"]
    line("flopcalc flops over import sympy", f"{ratio:.2f}x", f"<= {TARGET_SYMPY:.2f}x",
         f"{wall['flopcalc flops']:.3f} s over {wall['import sympy']:.3f} s (CPU "
         f"{cpu['flopcalc flops'] / cpu['import sympy']:.2f}x)", ratio <= TARGET_SYMPY)
    heavy = loaded.strip().splitlines()[-1]
    line("heavy modules 'flopcalc flops' imports", heavy, "[]", "sympy, numpy looked for",
         heavy == "[]")


if __name__ == "__main__":
    main()
