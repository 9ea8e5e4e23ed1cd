"""The audit at scale: time and peak memory of auditing 0.25, 0.5, 1 and 4 MB of a realistic
FLOP write-up (prose, inline and display math, plain-text equations, definitions, lists,
tables, code), next to the targets: under 1 s at 1 MB, and time linear in the text
(4 MB / 1 MB ≈ 4).

What is timed is ``audit_text`` (what ``flopcalc audit FILE`` runs) on a text already in
memory; peak memory is tracemalloc's peak over that call. The machine is shared and noisy:
each time is the best of --runs (noise only ever adds time), and the CPU time of that run is
printed beside it; the targets are judged on CPU time (other processes add wall time, not
CPU time).

    python benchmarks/bench_audit.py [--runs 3] [--sizes 0.25,0.5,1,4]
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc

from flopcalc.audit.report import audit_text

TARGET_SECONDS_AT_1MB = 1.0
MB = 1_000_000

WORDS = ("the model attention head layer projection token sequence cost each we count "
         "matrix multiply FLOPs parameters weights cache memory forward backward pass "
         "of and is a for with per in to this that which gives so").split()


def _prose(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _section(rng: random.Random, k: int) -> str:
    """One section of a write-up: every kind of line the audit reads, numbers varying."""
    d, h, s, layers = rng.choice((768, 1024, 1600, 4096)), rng.choice((12, 16, 25, 32)), \
        rng.choice((128, 512, 1024, 2048)), rng.choice((12, 24, 48))
    dh, ff = d // h, 4 * d
    slip = rng.random() < 0.2                         # some equations are wrong
    qkv = 3 * 2 * s * d * d + (d if slip else 0)
    return "\n".join([
        f"## Section {k}: a block of {layers} layers",
        "",
        _prose(rng, 40) + f" Here $d = {d}$ and $h = {h}$, so each head has "
        f"$d_h = d / h = {dh}$ dimensions.",
        "",
        f"$$\\text{{QKV}} = 3 \\times 2 \\times {s} \\times {d} \\times {d} = {qkv:,}$$",
        "",
        f"- FFN up: 2 x {s} x {d} x {ff} = {2 * s * d * ff:,} FLOPs",
        f"- scores: $2 \\cdot h \\cdot {s}^2 \\cdot d_h = {2 * h * s * s * dh:,}$",
        f"- per layer: ({12 * d * d:,} + {13 * d:,}) params",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| d_model | {d} |",
        f"| heads | {h} |",
        "",
        _prose(rng, 60) + f" In total {layers} \\* 12 \\* {d}^2 = {layers * 12 * d * d:,}.",
        "",
        "```python",
        f"flops = 2 * {s} * {d} * {ff}  # = {2 * s * d * ff}",
        "```",
        "",
        _prose(rng, 30) + f" The KV cache holds $2 \\times {layers} \\times {s} \\times {d} "
        f"\\times 2 = {2 * layers * s * d * 2:,}$ bytes.",
        "",
    ])


def document(size: int, seed: int = 0) -> str:
    """A write-up of about ``size`` characters (deterministic)."""
    rng, parts, total, k = random.Random(seed), [], 0, 0
    while total < size:
        k += 1
        parts.append(_section(rng, k))
        total += len(parts[-1]) + 1
    return "\n".join(parts)[:size]


def measure(text: str, runs: int) -> tuple[float, int, int]:
    """(best wall seconds, its CPU seconds, peak bytes, equations found)."""
    best, cpu = float("inf"), 0.0
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = audit_text(text)
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    tracemalloc.start()
    audit_text(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, cpu, peak, len(result.equations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="0.25,0.5,1,4", help="MB, comma-separated")
    args = parser.parse_args()
    sizes = [float(x) for x in args.sizes.split(",")]
    times = {}
    print(f"{'size':>8} {'equations':>10} {'time':>9} {'CPU':>8} {'s/MB':>7} {'peak memory':>12}"
          "  target")
    for mb in sizes:
        text = document(int(mb * MB))
        seconds, cpu, peak, found = measure(text, args.runs if mb <= 1 else 1)
        times[mb] = cpu
        target = (f"< {TARGET_SECONDS_AT_1MB:.0f} s: "
                  f"{'PASS' if cpu < TARGET_SECONDS_AT_1MB else 'MISS'}") if mb == 1 else ""
        print(f"{mb:>6g}MB {found:>10,} {seconds:>8.3f}s {cpu:>7.3f}s {seconds / mb:>7.3f} "
              f"{peak / MB:>10.1f}MB  {target}")
    if 1 in times and 4 in times:
        ratio = times[4] / times[1]
        print(f"CPU time 4 MB / 1 MB: {ratio:.2f} (target ≈ 4, linear: "
              f"{'PASS' if ratio < 5 else 'MISS'})")


if __name__ == "__main__":
    main()
