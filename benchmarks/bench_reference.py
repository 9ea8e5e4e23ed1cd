"""Speed of `flopcalc verify` and of the NumPy reference pass against their floors, in one run.

Measures, side by side (the machine is shared: the floors are measured next to what they
bound, and the verdicts rest on the ratios):
  1. `flopcalc verify` at the default setting (a fresh process, wall time) against its floor:
     a fresh process importing what verify imports and filling fresh memory the size of the
     weights (one float32 write per weight), plus the pass's 32.2 GFLOP at this machine's
     single-thread np.matmul rate; target <= 2x;
  2. the dense forward at GPT-2 small, seq 1024 (batch 1, float32), 2 * MACs / time, against
     np.matmul's rate (float32 2048^3) at the same thread count; target >= 70%;
  3. incremental decode (a KV cache, one token per sequence per step) at batch 1 and at
     batch 2, time per step against the memory bound: bytes of weights and KV cache read
     per step over a measured copy bandwidth (STREAM's convention: bytes read + bytes
     written, per second); target <= 1.5x at both batches; shown beside it, batch 1's bytes
     at the rate BLAS's dot reads one array (no verdict, and no floor: the dot reads one
     sequential stream, where a decode step's products read several at once and can read
     faster than it);
  4. whether reference.pass_threads() picked the thread count that decodes faster now
     (wall time per step of batch 1, the two counts' medians);
  5. the recording overhead (per matmul() call, times the calls, over the forward) and peak
     resident memory.
Items 2 and 3 run at one thread and at every core; the verdict is at the count
reference.pass_threads() picks now (one on a busy machine), the other shown beside it.
Item 3's samples alternate between the thread counts (copy, read, batch 1, batch 2 at one
count, then at the other, --decode-reps times), and each count's decode is compared with
the copy and the read on as many threads (one core alone may not saturate the memory bus)
and on the same clock: CPU time for one thread (on a shared machine it counts only the time
the measure ran, where wall time adds whatever else ran on its core meanwhile), wall time
for more (their CPU times add up).

    python benchmarks/bench_reference.py [--reps 3] [--decode-reps 5] [--tokens 16]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_info

from report import header, line

from flopcalc.reference import (GPTConfig, MatmulRecorder, blas_threads, busy_cores, forward,
                                forward_incremental, init_params, matmul, pass_threads)

GPT2_SMALL = GPTConfig(n_layer=12, n_head=12, n_embd=768, d_ff=3072, vocab_size=50257,
                       n_positions=1024)
VERIFY_GFLOP = 32_228_179_968 / 1e9   # flopcalc verify's default pass (flops --attention dense)
TARGET_VERIFY = 2.0                   # verify / floor
TARGET_EFFICIENCY = 0.70              # forward GFLOP/s over np.matmul GFLOP/s
TARGET_DECODE = 1.5                   # time per token / memory bound
TARGET_OVERHEAD = 0.02                # recording, fraction of the forward's time
TARGET_RSS = 2 * 2**30                # bytes

# the floor's process: verify's imports, then a write of every weight into fresh memory
FLOOR_SCRIPT = """
import numpy as np
import flopcalc.cli, flopcalc.reference, flopcalc.verify
np.empty({n}, np.float32).fill(0.02)
"""


def timed(f, clock=time.perf_counter) -> float:
    start = clock()
    f()
    return clock() - start


def timed_both(f) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call of f."""
    cpu, start = time.process_time(), time.perf_counter()
    f()
    return time.process_time() - cpu, time.perf_counter() - start


def clock(threads: int):
    """Item 3's clock at this thread count: CPU time (user + sys) for one thread, else wall."""
    return time.process_time if threads == 1 else time.perf_counter


def wall(cmd: list[str]) -> float:
    return timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL))


def matmul_gflops(threads: int, n: int = 2048, seconds: float = 1.0) -> float:
    """np.matmul's float32 n^3 rate, sustained over ``seconds`` (a forward takes seconds too:
    a single short product would catch the busy machine's quiet moments, the forward not)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    with blas_threads(threads):
        np.matmul(a, b, out=out)  # warm-up
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            np.matmul(a, b, out=out)
            count += 1
        return 2 * n**3 * count / elapsed / 1e9


def sustained_rate(work, parts: list, threads: int, seconds: float = 0.5) -> float:
    """Calls per second of ``work`` on every part (one thread each, ``threads`` of them),
    sustained over ``seconds`` of clock(threads), after one warm-up call."""
    tick = clock(threads)
    with ThreadPoolExecutor(threads) as pool, blas_threads(1):  # the pool's threads only
        def once():
            list(pool.map(work, *zip(*parts)))
        once()
        count, start = 0, tick()
        while (elapsed := tick() - start) < seconds:
            once()
            count += 1
    return count / elapsed


def copy_bandwidth(threads: int, nbytes: int = 2**28) -> float:
    """Bytes read + written per second by np.copyto between two warm arrays (STREAM copy),
    each of ``threads`` threads copying its share."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.zeros_like(src)
    parts = list(zip(np.array_split(dst, threads), np.array_split(src, threads)))
    return 2 * nbytes * sustained_rate(np.copyto, parts, threads)


def read_bandwidth(threads: int, nbytes: int = 2**28) -> float:
    """Bytes read per second by np.dot of a warm array with itself (BLAS's sdot: one stream of
    reads, nothing written), each of ``threads`` threads reading its share. Not a ceiling for
    a decode step: its products read several streams of a weight at once (sgemv of a (k, n)
    array, reference.stored_rows_dot), which keeps more reads in flight than one stream."""
    src = np.ones(nbytes // 4, np.float32)
    parts = [(part, part) for part in np.array_split(src, threads)]
    return nbytes * sustained_rate(np.dot, parts, threads)


def record_cost_per_call(calls: int = 20000) -> float:
    """Seconds that recording adds to one matmul() call (tiny arrays, so it is visible)."""
    a, b = np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)

    def run(with_recorder):
        recorder = MatmulRecorder() if with_recorder else None
        return timed(lambda: [matmul(recorder, "ffn_up", 0, a, b) for _ in range(calls)])

    best = {flag: min(run(flag) for _ in range(5)) for flag in (True, False)}
    return max(best[True] - best[False], 0.0) / calls


def blas_text() -> str:
    """Which BLAS runs (threadpoolctl), and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE if set."""
    libs = [f"{lib['internal_api']} {lib.get('version')} ({lib.get('architecture')} kernel, "
            f"{lib['num_threads']} threads)" for lib in threadpool_info()
            if lib["user_api"] == "blas"]
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
           if k in os.environ]
    return "; ".join(libs + (env or ["OPENBLAS_CORETYPE unset"]))


def decode_bytes_per_step(c: GPTConfig, params: dict, tokens: int, batch: int) -> int:
    """Bytes a decode step of ``batch`` sequences reads, averaged over positions 1..tokens:
    every weight matrix once (the LM head reads all of wte; the embedding reads a row of wte
    and of wpe per sequence), every bias and LayerNorm vector, and every sequence's K and V
    cached so far in every block."""
    item = params["wte.weight"].itemsize
    weights = sum(p.nbytes for name, p in params.items() if name != "wpe.weight")
    weights += 2 * batch * c.n_embd * item                        # wpe rows, wte rows
    cache = 2 * c.n_layer * c.n_embd * item * (tokens + 1) / 2 * batch   # mean K and V read
    return int(weights + cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each timed measure")
    parser.add_argument("--decode-reps", type=int, default=5,
                        help="samples of decode at each thread count, interleaved")
    parser.add_argument("--tokens", type=int, default=16, help="decode steps timed")
    args = parser.parse_args()
    c = GPT2_SMALL
    cores = len(os.sched_getaffinity(0))
    chosen = pass_threads()
    counts = sorted({1, cores})
    batches = (1, 2)
    print(f"{blas_text()}; {cores} cores; load average {os.getloadavg()[0]:.1f}, "
          f"busy_cores() {busy_cores():.1f} -> reference.pass_threads() = {chosen}; "
          f"numpy {np.__version__}")

    # 1. verify against its floor, interleaved
    params = init_params(c, seed=0)
    n_weights = sum(p.size for p in params.values())
    exe = shutil.which("flopcalc")
    verify_cmd = ([exe] if exe else [sys.executable, "-m", "flopcalc"]) + ["verify"]
    floor_cmd = [sys.executable, "-c", FLOOR_SCRIPT.format(n=n_weights)]
    wall(verify_cmd)  # the OS's file cache warm for both
    verify_s, floor_s, rate1 = [], [], []
    for _ in range(args.reps):
        rate1.append(matmul_gflops(1))
        floor_s.append(wall(floor_cmd) + VERIFY_GFLOP / rate1[-1])
        verify_s.append(wall(verify_cmd))

    # 2. the dense forward at seq 1024 at each thread count
    idx = np.random.default_rng(0).integers(0, c.vocab_size, (max(batches), 1024))
    recorder = MatmulRecorder()
    with blas_threads(1):
        forward(params, c, idx[:1, :64], None)  # warm-up: lazy imports, first touch
        forward(params, c, idx[:1], recorder)   # the MACs to credit
        forward_incremental(params, c, idx[:, :2])
    macs = recorder.total_macs()
    dense, peak = {}, {}
    for threads in counts:
        times, rates = [], []
        for _ in range(args.reps):
            rates.append(matmul_gflops(threads))
            with blas_threads(threads):
                times.append(timed(lambda: forward(params, c, idx[:1])))
        dense[threads] = 2 * macs / statistics.median(times) / 1e9
        peak[threads] = statistics.median(rates)

    # 3. decode at each thread count and batch, the samples interleaved
    copies = {t: [] for t in counts}
    reads = {t: [] for t in counts}
    steps = {(t, b, on): [] for t in counts for b in batches for on in ("cpu", "wall")}
    for _ in range(args.decode_reps):
        for threads in counts:
            copies[threads].append(copy_bandwidth(threads))
            reads[threads].append(read_bandwidth(threads))
            for batch in batches:
                with blas_threads(threads):
                    cpu, wall_s = timed_both(lambda: forward_incremental(
                        params, c, idx[:batch, :args.tokens]))
                steps[threads, batch, "cpu"].append(cpu / args.tokens)
                steps[threads, batch, "wall"].append(wall_s / args.tokens)
    step = {key: statistics.median(v) for key, v in steps.items()}
    bandwidth = {t: statistics.median(v) for t, v in copies.items()}
    read_rate = {t: statistics.median(v) for t, v in reads.items()}
    per_call = record_cost_per_call()
    overhead = per_call * len(recorder.records) / (2 * macs / 1e9 / dense[chosen])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    med_v, med_f = statistics.median(verify_s), statistics.median(floor_s)
    header()
    line("flopcalc verify (default), wall s", f"{med_v:.2f}", f"<= {TARGET_VERIFY:g}x floor",
         f"{med_v / med_f:.2f}x its floor, {med_f:.2f} s", med_v / med_f <= TARGET_VERIFY)
    line("  floor: imports + fill, + 32.2 GFLOP at 1 thread", f"{med_f:.2f}", "",
         f"np.matmul 1 thread {statistics.median(rate1):.0f} GFLOP/s")
    for threads in counts:
        mark = threads == chosen
        eff = dense[threads] / peak[threads]
        line(f"dense forward seq 1024, {threads} thread(s), GFLOP/s", f"{dense[threads]:.1f}",
             f">= {TARGET_EFFICIENCY:.0%} matmul", f"{eff:.0%} of np.matmul's "
             f"{peak[threads]:.0f} GFLOP/s" + ("" if mark else " (not picked now)"),
             eff >= TARGET_EFFICIENCY if mark else None)
    for batch in batches:
        nbytes = decode_bytes_per_step(c, params, args.tokens, batch)
        for threads in counts:
            mark, on = threads == chosen, "cpu" if threads == 1 else "wall"
            bound = nbytes / bandwidth[threads]
            ratio = step[threads, batch, on] / bound
            line(f"decode batch {batch}, {threads} thread(s), {on.upper()} ms/step",
                 f"{step[threads, batch, on] * 1e3:.1f}", f"<= {TARGET_DECODE:g}x bound",
                 f"{ratio:.2f}x {bound * 1e3:.1f} ms = {nbytes / 1e6:.0f} MB / "
                 f"{bandwidth[threads] / 1e9:.1f} GB/s copy" + ("" if mark else " (not picked)"),
                 ratio <= TARGET_DECODE if mark else None)
    read_bound = decode_bytes_per_step(c, params, args.tokens, 1) / read_rate[chosen]
    picked_step = step[chosen, 1, "cpu" if chosen == 1 else "wall"]
    line("  batch 1's bytes at the read-only rate, ms", f"{read_bound * 1e3:.1f}", "",
         f"decode at {chosen} thread(s) is {picked_step / read_bound:.2f}x it; "
         f"a dot reads {read_rate[chosen] / 1e9:.1f} GB/s")
    walls = {t: step[t, 1, "wall"] for t in counts}
    faster = min(walls, key=walls.get)
    line("decode batch 1 wall ms/step, " + " vs ".join(f"{t}" for t in counts) + " thread(s)",
         " / ".join(f"{walls[t] * 1e3:.0f}" for t in counts), "the faster picked",
         f"{faster} thread(s) faster by {max(walls.values()) / walls[faster]:.2f}x; "
         f"picked {chosen}", chosen == faster if len(counts) > 1 else None)
    line("recording overhead, % of the forward", f"{overhead:.4%}", f"< {TARGET_OVERHEAD:.0%}",
         f"{per_call * 1e6:.2f} us x {len(recorder.records)} calls", overhead < TARGET_OVERHEAD)
    line("peak RSS (ru_maxrss), MiB", f"{rss / 2**20:.0f}", f"< {TARGET_RSS / 2**20:.0f}",
         f"{rss / TARGET_RSS:.2f}x the limit", rss < TARGET_RSS)


if __name__ == "__main__":
    main()
