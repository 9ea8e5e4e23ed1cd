"""Speed and memory of the NumPy reference forward pass (flopcalc/reference.py), in one run.

Measures, at GPT-2 small (seq 1024, batch 1, float32):
  1. this machine's large np.matmul throughput (float32 2048 x 2048 @ 2048 x 2048),
  2. the dense forward's achieved throughput, 2 * recorded MACs / time; target >= 70% of (1),
  3. the recording overhead, forward with a recorder vs recorder=None; target < 2%,
  4. peak resident memory (ru_maxrss); target < 2 GiB.

The machine is shared and noisy (2 cores): the matmul probe and the forward runs with and
without a recorder are interleaved, so drifting load hits all alike, and best times are
compared (noise only ever adds time). Medians are printed alongside.

    python benchmarks/bench_reference.py [--reps 5]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import time

import numpy as np

from flopcalc.reference import (GPTConfig, MatmulRecorder, estimate_memory_bytes, forward,
                                init_params, matmul)

GPT2_SMALL = GPTConfig(n_layer=12, n_head=12, n_embd=768, d_ff=3072, vocab_size=50257,
                       n_positions=1024)
SEQ_LEN, BATCH = 1024, 1
TARGET_EFFICIENCY = 0.70   # achieved forward GFLOP/s over large-matmul GFLOP/s
TARGET_OVERHEAD = 0.02     # recording overhead, fraction of forward time
TARGET_RSS = 2 * 2**30     # bytes


def timed(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)  # warm-up
    return 2 * n**3 / min(timed(lambda: np.matmul(a, b, out=out)) for _ in range(reps)) / 1e9


def record_cost_per_call(calls: int = 20000) -> float:
    """Seconds that recording adds to one matmul() call (tiny arrays, so it is visible)."""
    a, b = np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)

    def run(with_recorder):
        recorder = MatmulRecorder() if with_recorder else None
        return timed(lambda: [matmul(recorder, "ffn_up", 0, a, b) for _ in range(calls)])

    best = {flag: min(run(flag) for _ in range(5)) for flag in (True, False)}
    return max(best[True] - best[False], 0.0) / calls


def openblas_info() -> str:
    """OPENBLAS_CORETYPE if set, and the kernel OpenBLAS picked (when it can be asked)."""
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    text = f"OPENBLAS_CORETYPE={coretype}" if coretype else "OPENBLAS_CORETYPE unset"
    try:
        with open("/proc/self/maps") as maps:
            path = next(line.split()[-1] for line in maps if "openblas" in line.lower())
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                       "openblas_get_corename"):
            if hasattr(lib, symbol):
                getattr(lib, symbol).restype = ctypes.c_char_p
                return f"{text}; OpenBLAS kernel: {getattr(lib, symbol)().decode()}"
    except (OSError, StopIteration):
        pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="forward runs per variant")
    args = parser.parse_args()
    c = GPT2_SMALL
    print(f"{openblas_info()}; {os.cpu_count()} CPUs; numpy {np.__version__}")

    params = init_params(c, seed=0)
    idx = np.random.default_rng(0).integers(0, c.vocab_size, (BATCH, SEQ_LEN))
    recorder = MatmulRecorder()
    forward(params, c, idx, recorder)  # warm-up, and the MACs to credit
    macs = recorder.total_macs()
    times: dict[str, list[float]] = {"recorder": [], "None": []}
    peaks = []
    variants = {"recorder": MatmulRecorder, "None": lambda: None}
    for rep in range(args.reps):
        peaks.append(matmul_gflops())
        for name in sorted(variants, reverse=rep % 2 == 1):  # alternate which runs first
            times[name].append(timed(lambda: forward(params, c, idx, variants[name]())))
    peak = max(peaks)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    # both variants do the same arithmetic (recording costs microseconds): credit the best run
    achieved = 2 * macs / min(best.values()) / 1e9
    efficiency = achieved / peak
    overhead = best["recorder"] / best["None"] - 1
    overhead_med = med["recorder"] / med["None"] - 1
    per_call = record_cost_per_call()
    isolated = per_call * len(recorder.records) / best["None"]

    def row(measure, value, target, ok):
        print(f"{measure:<44}{value:>16}   {target:<12}{'PASS' if ok else 'MISS'}")

    print(f"GPT-2 small, batch {BATCH}, seq {SEQ_LEN}, float32: "
          f"{len(recorder.records)} matmuls, {macs:,} MACs = {2 * macs / 1e9:.1f} GFLOP")
    print(f"forward with recorder, s: best {best['recorder']:.3f}, median {med['recorder']:.3f}; "
          f"recorder=None: best {best['None']:.3f}, median {med['None']:.3f}  ({args.reps} each)")
    print(f"{'measure':<44}{'value':>16}   {'target':<12}")
    print(f"{'large np.matmul (2048^3 float32), GFLOP/s':<44}{peak:>16.1f}"
          f"   (median {statistics.median(peaks):.1f})")
    print(f"{'dense forward, GFLOP/s':<44}{achieved:>16.1f}"
          f"   (median {2 * macs / statistics.median(sum(times.values(), [])) / 1e9:.1f})")
    row("forward / matmul throughput", f"{efficiency:.1%}", f">= {TARGET_EFFICIENCY:.0%}",
        efficiency >= TARGET_EFFICIENCY)
    row("recording overhead (best vs best)", f"{overhead:+.2%}", f"< {TARGET_OVERHEAD:.0%}",
        overhead < TARGET_OVERHEAD)
    print(f"{'  median vs median':<44}{overhead_med:>+16.2%}   (noise dominates)")
    print(f"{'  isolated: per-call cost x calls / forward':<44}{isolated:>16.4%}"
          f"   ({per_call * 1e6:.2f} us x {len(recorder.records)} calls)")
    row("peak RSS (ru_maxrss), MiB", f"{rss / 2**20:.0f}", f"< {TARGET_RSS / 2**20:.0f}",
        rss < TARGET_RSS)
    print(f"{'  estimate_memory_bytes(), MiB':<44}"
          f"{estimate_memory_bytes(c, BATCH, SEQ_LEN, np.float32) / 2**20:>16.0f}")


if __name__ == "__main__":
    main()
