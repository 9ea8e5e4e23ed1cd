"""`flopcalc sweep` at 10^4, 10^5 and 10^6 points, as a user runs it (a fresh process each time,
the imports and the model's compilation included), in one run.

Measures:
  1. 1,000,000 points written to a file as CSV and as JSON: target < 5 s and peak memory
     (the process's ru_maxrss) < 200 MiB each;
  2. growth: the time past 10^4 points, 10^4 -> 10^6 over 10^4 -> 10^5 (linear: 99/9 = 11;
     target <= 13), and the memory of 10^6 points over that of 10^4 (flat: target <= 1.5x);
  3. 100,000 points: CSV to a file and the default table on stdout, 100,000 Llama-3.1-8B
     configs (n_layers x seq_len, grouped-query attention, gated MLP) and 100,000 DeepSeek-V3
     configs (top_k x seq_len: experts, latent attention, dense and MoE layer groups) as CSV
     to a file; target < 2 s each;
  4. the terminal table has no cliff: 201 rows (the plain layout) against 200 (rich's grid),
     target <= 1.25x; and 100,001 rows are refused at once with how to write a file.

The machine is shared and noisy: each time is the best of --runs (noise only ever adds time).
Each time is shown as wall and CPU seconds (user + system, of the process): on a busy machine
the wall time waits for a core, so the verdicts on time rest on the CPU seconds, which are
what the wall time is on an idle one.

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

from report import header, line

TARGET_MILLION_S, TARGET_MIB = 5.0, 200
TARGET_100K_S = 2.0
TARGET_GROWTH, TARGET_MEMORY_GROWTH = 13.0, 1.5
TARGET_CLIFF = 1.25


def grid(points: int) -> list[str]:
    """--d-model 64, 128, … (points / seq) values x --seq-len 1..seq: ``points`` configs."""
    seq = 1000 if points <= 10**5 else 10_000
    return ["--d-model", f"64:{64 * (points // seq)}:+64", "--seq-len", f"1:{seq}:+1",
            "--heads", "1", "--n-positions", str(seq)]


# 100 x 1000 Llama configs: the compiled path of another family (its own formulas)
LLAMA_100K = ["--preset", "llama-3.1-8b", "--n-layers", "1:100:+1", "--seq-len", "1:1000:+1"]
# 100 x 1000 DeepSeek-V3 configs: the compiled path of a mixture of experts with latent attention
DEEPSEEK_100K = ["--preset", "deepseek-v3", "--top-k", "1:100:+1", "--seq-len", "1:1000:+1"]


def flopcalc(*args: str, stdout=subprocess.DEVNULL, width: int = 200):
    """(wall seconds, peak RSS bytes, exit code, CPU seconds) of one ``flopcalc ARGS``."""
    exe = shutil.which("flopcalc")
    cmd = ([exe] if exe else [sys.executable, "-m", "flopcalc"]) + list(args)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": str(width)})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return seconds, usage.ru_maxrss * 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def best(runs: int, *args: str, **kw) -> tuple[float, int, float]:
    """(best wall s, largest peak RSS, best CPU s) of ``runs`` runs."""
    results = [flopcalc(*args, **kw) for _ in range(runs)]
    assert all(r[2] == 0 for r in results), (args, results)
    return (min(r[0] for r in results), max(r[1] for r in results),
            min(r[3] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        out = {fmt: os.path.join(tmp, f"sweep.{fmt}") for fmt in ("csv", "json")}
        files = {(fmt, n): best(runs if n < 10**6 else max(1, runs - 1), "sweep", *grid(n),
                                "--format", fmt, "--output", out[fmt])
                 for n in (10**4, 10**5, 10**6) for fmt in ("csv", "json")}
        with open(out["csv"], encoding="utf-8") as f:          # the last: 10^6 points
            assert sum(1 for row in f if row[:1].isdigit()) == 10**6
        llama = best(runs, "sweep", *LLAMA_100K, "--format", "csv", "--output", out["csv"])
        with open(out["csv"], encoding="utf-8") as f:
            assert sum(1 for row in f if row[:1].isdigit()) == 10**5
        deepseek = best(runs, "sweep", *DEEPSEEK_100K, "--format", "csv", "--output", out["csv"])
        with open(out["csv"], encoding="utf-8") as f:
            assert sum(1 for row in f if row[:1].isdigit()) == 10**5
        with open(os.path.join(tmp, "table.txt"), "w", encoding="utf-8") as stdout:
            table = best(runs, "sweep", *grid(10**5), stdout=stdout)
        rich = best(runs, "sweep", "--seq-len", "1:200:+1", stdout=subprocess.DEVNULL)
        plain = best(runs, "sweep", "--seq-len", "1:201:+1", stdout=subprocess.DEVNULL)
        refused = flopcalc("sweep", "--seq-len", "1:100001:+1", "--n-positions", "200000")

    header()
    for fmt in ("csv", "json"):
        wall_s, rss, t = files[fmt, 10**6]
        line(f"1,000,000 points to {fmt.upper()}, CPU s", f"{t:.2f}",
             f"< {TARGET_MILLION_S:g} s", f"{t / TARGET_MILLION_S:.2f}x the target; "
             f"wall {wall_s:.2f} s", t < TARGET_MILLION_S)
        line(f"  its peak memory, MiB", f"{rss / 2**20:.0f}", f"< {TARGET_MIB} MiB",
             f"{rss / 2**20 / TARGET_MIB:.2f}x the target", rss < TARGET_MIB * 2**20)
    for fmt in ("csv", "json"):
        t4, t5, t6 = (files[fmt, n][2] for n in (10**4, 10**5, 10**6))
        growth = (t6 - t4) / (t5 - t4)
        line(f"  {fmt.upper()} time past 10^4: 10^6 over 10^5", f"{growth:.1f}",
             f"<= {TARGET_GROWTH:g} (11 linear)", f"{t4:.2f} / {t5:.2f} / {t6:.2f} CPU s at "
             f"10^4/10^5/10^6", growth <= TARGET_GROWTH)
        m4, m6 = files[fmt, 10**4][1], files[fmt, 10**6][1]
        line(f"  {fmt.upper()} memory: 10^6 points over 10^4", f"{m6 / m4:.2f}x",
             f"<= {TARGET_MEMORY_GROWTH:g}x (flat)", f"{m4 / 2**20:.0f} -> {m6 / 2**20:.0f} MiB",
             m6 / m4 <= TARGET_MEMORY_GROWTH)
    for what, (wall_s, _, t) in (("CSV to a file", files["csv", 10**5]),
                                 ("the table to stdout", table),
                                 ("Llama-3.1-8B configs, CSV", llama),
                                 ("DeepSeek-V3 configs, CSV", deepseek)):
        line(f"100,000 points, {what}, CPU s", f"{t:.2f}", f"< {TARGET_100K_S:g} s",
             f"{t / TARGET_100K_S:.2f}x the target; wall {wall_s:.2f} s", t < TARGET_100K_S)
    cliff = plain[2] / rich[2]
    line("table of 201 rows (plain) over 200 (rich)", f"{cliff:.2f}x", f"<= {TARGET_CLIFF:g}x",
         f"{plain[2]:.2f} over {rich[2]:.2f} CPU s", cliff <= TARGET_CLIFF)
    seconds, _, code, _ = refused
    line("100,001 rows as a table: refused, s", f"{seconds:.2f}", "exit 2, < 1 s",
         f"exit {code}; says --format csv --output", code == 2 and seconds < 1)


if __name__ == "__main__":
    main()
