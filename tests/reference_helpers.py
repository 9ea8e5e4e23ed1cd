"""Measuring the reference pass in tests: its peak memory against its own estimate."""

from __future__ import annotations

import tracemalloc

from flopcalc.reference import estimate_memory_bytes, forward, forward_incremental, init_params


def peak_over_estimate(config, idx, incremental: bool = False) -> float:
    """The traced peak of a pass over ``idx`` (batch, seq_len) as a fraction of
    ``estimate_memory_bytes``. A first run outside the trace pays the lazy imports and the
    cached masks and tables; NumPy reports its array allocations to tracemalloc."""
    run = forward_incremental if incremental else forward
    batch, seq_len = idx.shape
    run(init_params(config), config, idx)
    tracemalloc.start()
    try:
        run(init_params(config), config, idx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / estimate_memory_bytes(config, batch, seq_len, incremental=incremental)
